"""``touchpoints.resolved`` profile events to ``profile_fields`` and ``customer_names`` rows.

Only ``customer.profile_updated`` records give rows; a cheap byte test skips the rest
before any parsing, so the hot path of ordinary touchpoints pays nothing here. Records
that are not readable are left to ``touchpoint_rows``, which dead-letters them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from events.names import search_keys
from projections.profiles import PROFILE_TYPE, Precedence, fields_of
from projections.rows.common import SourceRecord, ms_or_none, table_of
from projections.rows.schemas import CUSTOMER_NAMES_SCHEMA, PROFILE_FIELDS_SCHEMA

_MARK = f'"{PROFILE_TYPE}"'.encode()
_NAME_PARTS = ("family", "given", "family_kana", "given_kana", "display")


def profile_rows(
    records: Iterable[SourceRecord], precedence: Precedence | None = None
) -> dict[str, pa.Table]:
    """One ``profile_fields`` row per field an event names; name keys for every name it sets."""
    precedence = precedence or Precedence()
    fields: list[tuple[Any, ...]] = []
    names: list[tuple[Any, ...]] = []
    for record in records:
        if _MARK not in record.value:
            continue
        body = _profile_event(record)
        if body is None:
            continue
        tenant, customer, at, event = (
            body["tenant"],
            body["customer_id"],
            body["occurred_at"],
            body["event_id"],
        )
        source, payload = str(body.get("source") or ""), body["payload"]
        rank = min(precedence.rank(source), 255)
        for field, value in fields_of(payload).items():
            fields.append(
                (tenant, customer, field, orjson.dumps(value).decode(), source, rank, at, event)
            )
        name = payload.get("name")
        if isinstance(name, dict):
            parts = {p: name.get(p) if isinstance(name.get(p), str) else None for p in _NAME_PARTS}
            for key in sorted(search_keys(**parts)):
                names.append((tenant, key, customer, at, event))
    return {
        "profile_fields": _with_instants(PROFILE_FIELDS_SCHEMA, fields, 6),
        "customer_names": _with_instants(CUSTOMER_NAMES_SCHEMA, names, 3),
    }


def _profile_event(record: SourceRecord) -> dict[str, Any] | None:
    try:
        body = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or body.get("type") != PROFILE_TYPE or "control" in body:
        return None
    wanted = ("tenant", "customer_id", "occurred_at", "event_id")
    if not all(isinstance(body.get(k), str) for k in wanted) or not isinstance(
        body.get("payload"), dict
    ):
        return None
    return body


def _with_instants(schema: pa.Schema, rows: list[tuple[Any, ...]], at: int) -> pa.Table:
    """``rows`` with their RFC 3339 column ``at`` as milliseconds; rows whose time does not
    parse are left out (``touchpoint_rows`` dead-letters the same records)."""
    kept = []
    for row in rows:
        instant = ms_or_none(row[at])
        if instant is not None:
            kept.append((*row[:at], instant, *row[at + 1 :]))
    return table_of(schema, kept)
