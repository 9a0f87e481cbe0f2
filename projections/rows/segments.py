"""``segments`` to ``segment_changes`` (every entry and exit) and ``segment_members`` rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from projections.rows.common import (
    UNREADABLE,
    Rejected,
    SourceRecord,
    decode,
    reject,
    table_of,
    text,
)
from projections.rows.schemas import SEGMENT_CHANGES_SCHEMA, SEGMENT_MEMBERS_SCHEMA


def segment_rows(
    records: Iterable[SourceRecord], rejected: list[Rejected] | None = None
) -> dict[str, pa.Table]:
    changes: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    for record in records:
        body = decode(record, rejected)
        if body is None:
            continue
        try:
            change = _change_row(body)
        except UNREADABLE as exc:
            reject(record, f"not a segment change: {exc!r}", rejected)
            continue
        changes.append(change)
        tenant, segment, name, _, customer, kind, reason, _, at, _ = change
        members.append((tenant, segment, name, customer, kind == "entered", at, reason,
                        int(body["changed_at_ms"]) * 1000 + record.offset % 1000))  # fmt: skip
    return {
        "segment_changes": table_of(SEGMENT_CHANGES_SCHEMA, changes),
        "segment_members": table_of(SEGMENT_MEMBERS_SCHEMA, members),
    }


def _change_row(b: dict[str, Any]) -> tuple[Any, ...]:
    change = text(b["change"])
    if change not in ("entered", "exited"):
        raise ValueError(f"change is {change!r}")
    at = datetime.fromtimestamp(int(b["changed_at_ms"]) / 1000, UTC)
    return (text(b["tenant"]), text(b["segment_id"]), text(b["segment_name"]),
            int(b["segment_version"]), text(b["customer_id"]), change, text(b["reason"]),
            orjson.dumps(b["conditions"]).decode(), at, text(b["change_id"]))  # fmt: skip
