"""``touchpoints.resolved`` to ``touchpoints`` rows: the hot path, converted to Arrow once per batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from projections.rows.common import (
    MS,
    UNREADABLE,
    Rejected,
    SourceRecord,
    decode,
    ms_or_none,
    reject,
    text,
)
from projections.rows.schemas import (
    TOUCHPOINTS_SCHEMA,
)
from projections.summaries import summarize

# -- touchpoints.resolved -> touchpoints ---------------------------------------------


def touchpoint_rows(
    records: Iterable[SourceRecord], rejected: list[Rejected] | None = None
) -> pa.Table:
    """Resolved touchpoints as ``touchpoints`` rows, in record order.

    Control records on the same topic (``merged_into``, ``absorb``,
    ``detached``, ``erased``) instruct per-customer state downstream; they are
    not touchpoints and give no row. ``payload`` is re-serialized compactly
    (it already is at the type's latest version), and ``summary`` is the line
    from ``projections.summaries``.
    """
    records = list(records)
    try:  # well-formed records (the normal case) take the fast path and convert once
        columns = _TouchpointColumns()
        columns.add_unchecked(records)
        return columns.table(None)
    except (*UNREADABLE, pa.ArrowException):
        pass  # some record is bad: redo the batch one checked record at a time
    columns = _TouchpointColumns()
    for record in records:
        body = decode(record, rejected)
        if body is None or "control" in body:
            continue
        try:
            columns.add(record, body)
        except UNREADABLE as exc:
            reject(record, f"not a resolved touchpoint: {exc!r}", rejected)
    return columns.table(rejected)


def sighting_order(record: SourceRecord) -> tuple[int, int, int, int, int]:
    """Which copy of an event the projection keeps: the earliest sighting, then the earliest record.

    Copies of one event in ``touchpoints.resolved``: an event sent twice (its
    copies share a ``touchpoints`` partition, so offsets order them), one
    repeated after a crash (same sighting, later record), one the engagement
    stage moved to a survivor (same sighting, later record). Keeping the
    lowest partition of a flush, as before, kept a survivor's copy over the
    alias's original when the survivor hashed to a lower partition.
    """
    try:
        partition, offset = orjson.loads(record.value)["sighting"]
        sighting = (int(partition), int(offset))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        sighting = (2**31, 2**62)  # written before sightings were recorded: after any that has one
    return (*sighting, record.timestamp_ms, record.partition, record.offset)


def event_key(record: SourceRecord) -> tuple[str, str] | None:
    """``(tenant, event_id)`` of a resolved touchpoint; None for a control or unreadable record.

    For a dedup stage keyed by event. It decodes the record, so a caller that
    also calls ``touchpoint_rows`` pays the decoding twice; the ``tenant`` and
    ``event_id`` columns of that table give the same keys for the rows it kept.
    """
    try:
        body = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or "control" in body:
        return None
    tenant, event_id = body.get("tenant"), body.get("event_id")
    if isinstance(tenant, str) and isinstance(event_id, str):
        return tenant, event_id
    return None


class _TouchpointColumns:
    """The ``touchpoints`` columns as growing lists, converted to Arrow once in ``table``."""

    TEXT = (
        "tenant",
        "customer_id",
        "occurred_at",
        "event_id",
        "channel",
        "type",
        "summary",
        "payload",
        "received_at",
        "source",
        "correlation_id",
        "conversation_id",
    )

    def __init__(self) -> None:
        self.records: list[SourceRecord] = []
        self.text: dict[str, list[str]] = {name: [] for name in self.TEXT}
        self.versions: list[int] = []
        self.id_offsets: list[int] = [0]
        self.id_kinds: list[str] = []
        self.id_values: list[str] = []
        self.flag_offsets: list[int] = [0]
        self.flags: list[str] = []

    def add_unchecked(self, records: list[SourceRecord]) -> None:
        """Every record at ~1 µs less than ``add``: no per-value checks, bound appends.

        A bad record raises (here, or when ``table`` converts a value of the
        wrong type) and leaves the columns ragged: the caller starts over with
        ``add``. Types are checked by Arrow's conversion instead of in Python.
        """
        (
            tenant,
            customer,
            occurred,
            event,
            channel,
            type_,
            summary,
            payload,
            received,
            source,
            correlation,
            conversation,
        ) = (self.text[name].append for name in self.TEXT)
        loads, dumps = orjson.loads, orjson.dumps
        for record in records:
            body = loads(record.value)
            if "control" in body:
                continue
            kind, data, identities = body["type"], body["payload"], body["identities"]
            tenant(body["tenant"])
            customer(body["customer_id"])
            occurred(body["occurred_at"])
            event(body["event_id"])
            channel(body["channel"])
            type_(kind)
            summary(summarize(kind, data))
            payload(dumps(data).decode())
            received(body["received_at"])
            source(body["source"])
            correlation(body.get("correlation_id") or "")
            conversation(body.get("conversation_id") or "")
            self.versions.append(body["schema_version"])
            self.id_kinds.extend(identities)
            self.id_values.extend(identities.values())
            self.id_offsets.append(len(self.id_kinds))
            self.flags.extend(body.get("identity_flags") or ())
            self.flag_offsets.append(len(self.flags))
            self.records.append(record)

    def add(self, record: SourceRecord, body: dict[str, Any]) -> None:
        """One record, every value checked first, so a bad one appends nothing."""
        type_, payload, identities = body["type"], body["payload"], body["identities"]
        flags = [text(flag) for flag in body.get("identity_flags") or ()]
        row = (
            text(body["tenant"]),
            text(body["customer_id"]),
            text(body["occurred_at"]),
            text(body["event_id"]),
            text(body["channel"]),
            text(type_),
            summarize(type_, payload),
            orjson.dumps(payload).decode(),
            text(body["received_at"]),
            text(body["source"]),
            str(body.get("correlation_id") or ""),
            str(body.get("conversation_id") or ""),
        )
        version = int(body["schema_version"])
        if not 0 < version < 2**16:
            raise ValueError(f"schema_version {version} out of range")
        kinds = [text(k) for k in identities]
        values = [text(v) for v in identities.values()]
        for column, value in zip(self.text.values(), row, strict=True):
            column.append(value)
        self.versions.append(version)
        self.id_kinds += kinds
        self.id_values += values
        self.id_offsets.append(len(self.id_kinds))
        self.flags += flags
        self.flag_offsets.append(len(self.flags))
        self.records.append(record)

    def table(self, rejected: list[Rejected] | None) -> pa.Table:
        occurred, bad_occurred = _instants(self.text["occurred_at"])
        received, bad_received = _instants(self.text["received_at"])
        arrays: dict[str, pa.Array] = {
            name: pa.array(values, pa.string()) for name, values in self.text.items()
        }
        arrays |= {
            "occurred_at": occurred,
            "received_at": received,
            "schema_version": pa.array(self.versions, pa.uint16()),
            "identities": pa.MapArray.from_arrays(
                pa.array(self.id_offsets, pa.int32()),
                pa.array(self.id_kinds, pa.string()),
                pa.array(self.id_values, pa.string()),
            ),
            "identity_flags": pa.ListArray.from_arrays(
                pa.array(self.flag_offsets, pa.int32()), pa.array(self.flags, pa.string())
            ),
            "kafka_partition": pa.array([r.partition for r in self.records], pa.uint16()),
            "kafka_offset": pa.array([r.offset for r in self.records], pa.uint64()),
        }
        table = pa.Table.from_arrays(
            [arrays[name] for name in TOUCHPOINTS_SCHEMA.names], schema=TOUCHPOINTS_SCHEMA
        )
        return _without(table, self.records, bad_occurred | bad_received, rejected)


def _instants(texts: list[str]) -> tuple[pa.Array, set[int]]:
    """RFC 3339 texts as ``timestamp('ms', 'UTC')``, parsed by Arrow; and the rows that failed.

    Arrow parses the whole column at once (ingest wrote one canonical form,
    ``...T03:00:00.123Z``); only if that fails is each text parsed in Python
    to find the bad ones, which come back as nulls and indices to drop.
    """
    column = pa.array(texts, pa.string())
    try:  # via ns: Arrow refuses to cast text with more digits than the unit holds
        return column.cast(pa.timestamp("ns", tz="UTC")).cast(MS, safe=False), set()
    except pa.ArrowInvalid:
        parsed = [ms_or_none(text) for text in texts]
        return pa.array(parsed, MS), {i for i, ms in enumerate(parsed) if ms is None}


def _without(
    table: pa.Table, records: list[SourceRecord], bad: set[int], rejected: list[Rejected] | None
) -> pa.Table:
    if not bad:
        return table
    for i in sorted(bad):
        reject(records[i], "a timestamp is not an RFC 3339 date-time with an offset", rejected)
    keep = pa.array([i not in bad for i in range(table.num_rows)], pa.bool_())
    return table.filter(keep)
