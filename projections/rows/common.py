"""What every topic's rows share: the record as handed over, rejections, and value checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import InvalidOperation
from typing import Any, NamedTuple

import orjson
import pyarrow as pa

MS = pa.timestamp("ms", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, InvalidOperation)


class SourceRecord(NamedTuple):
    """One Kafka record as the projector hands it over (aiokafka's fields, nothing decoded)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


class Rejected(NamedTuple):
    """A record that could not become a row, and why (for the dead-letter topic)."""

    record: SourceRecord
    reason: str


class RowError(ValueError):
    """A record cannot become a row and the caller asked to stop on it (no ``rejected`` list)."""

    def __init__(self, record: SourceRecord, reason: str) -> None:
        super().__init__(f"{record.topic}[{record.partition}]@{record.offset}: {reason}")
        self.record = record
        self.reason = reason


def schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, type_) for name, type_ in fields])


def decode(record: SourceRecord, rejected: list[Rejected] | None) -> dict[str, Any] | None:
    try:
        body = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        reject(record, f"not JSON: {exc}", rejected)
        return None
    if not isinstance(body, dict):
        reject(record, "not a JSON object", rejected)
        return None
    return body


def reject(record: SourceRecord, reason: str, rejected: list[Rejected] | None) -> None:
    if rejected is None:
        raise RowError(record, reason)
    rejected.append(Rejected(record, reason))


def table_of(schema: pa.Schema, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """Row tuples (in schema order) to a table, converting each column once."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def text(value: Any) -> str:
    """A required text field: present and a string (``None`` or a number is a bad record)."""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def instant(written: Any) -> datetime:
    value = datetime.fromisoformat(text(written))
    if value.tzinfo is None:
        raise ValueError(f"{written!r} has no UTC offset")
    return value


def us(written: Any) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    delta = instant(written) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ms(written: Any) -> int:
    return us(written) // 1000


def ms_or_none(written: str) -> int | None:
    try:
        return ms(written)
    except (TypeError, ValueError):
        return None


def int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def bytes_text(data: bytes) -> str:
    return bytes(data).decode("utf-8", "replace")
