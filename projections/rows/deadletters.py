"""``touchpoints.deadletter`` to ``deadletter`` rows: every dead letter kept, whatever its shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from projections.rows.common import (
    TENANT,
    SourceRecord,
    bytes_text,
    int_or,
    table_of,
)
from projections.rows.schemas import (
    DEADLETTER_SCHEMA,
)

# -- touchpoints.deadletter -> deadletter -----------------------------------------------


def deadletter_rows(records: Iterable[SourceRecord]) -> pa.Table:
    """One row per dead-lettered record; never rejects one (it is already the last resort).

    Stages write different bodies (identity: ``value``, ``event`` or
    ``command`` with topic, partition and offset; engagement: ``value`` only),
    so unknown positions are -1 and the tenant is dug out of the nested event
    or command, the failed value's JSON, or the ``tenant|...`` record key, in
    that order, and is '' when none says. ``failed_at`` is the dead-letter
    record's Kafka timestamp (when the stage gave up on it).
    """
    rows = []
    for record in records:
        try:
            body = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            body = {"reason": "unreadable dead-letter record", "value": bytes_text(record.value)}
        key = bytes_text(record.key or b"")
        rows.append(
            (
                _tenant_of(body, key),
                record.timestamp_ms,
                str(body.get("stage") or ""),
                str(body.get("reason") or ""),
                str(body.get("topic") or ""),
                int_or(body.get("partition"), -1),
                int_or(body.get("offset"), -1),
                key,
                _failed_value(body),
                record.partition,
                record.offset,
            )
        )
    return table_of(DEADLETTER_SCHEMA, rows)


def _failed_value(body: dict[str, Any]) -> str:
    """The record that failed, as text: the raw value, or the event or command as JSON."""
    for name in ("value", "event", "command"):
        found = body.get(name)
        if isinstance(found, str):
            return found
        if found is not None:
            return orjson.dumps(found).decode()
    return ""


def _tenant_of(body: dict[str, Any], key: str) -> str:
    candidates: list[Any] = [body.get("tenant")]
    for name in ("event", "command"):
        nested = body.get(name)
        if isinstance(nested, dict):
            candidates.append(nested.get("tenant"))
    value = body.get("value")
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            candidates.append(parsed.get("tenant"))
    candidates.append(key.split("|", 1)[0] if "|" in key else None)
    return next((c for c in candidates if isinstance(c, str) and TENANT.fullmatch(c)), "")


# -- shared pieces ------------------------------------------------------------------------
