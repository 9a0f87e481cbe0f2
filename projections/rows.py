"""Kafka records to Arrow tables, one function per source topic; pure (no I/O, no clock).

Each function takes the records of one topic, in log order, and returns
tables whose column names and Arrow types are what the ClickHouse DDL in
``schemas/clickhouse/`` accepts, ready for ``ProjectionStore.insert_arrow``.
The same records always give the same tables (no clock, no randomness), so a
replay of the log rebuilds byte-identical rows and a retried batch gets the
same insert dedup token *and* the same content.

Type mapping, as chDB and clickhouse-connect accept it: ``UUID`` columns are
sent as canonical UUID strings (ClickHouse parses them on insert, as the
contract suite does), ``DateTime64(3, 'UTC')`` as ``timestamp('ms', 'UTC')``,
``Map`` as Arrow maps, ``Decimal(18, 4)`` as ``decimal128(18, 4)``.

Columns are built as Python lists per column and converted once per batch;
the hot path (``touchpoint_rows``) parses its timestamps with Arrow and builds
its map and list columns from flat offsets, so projecting costs a fraction of
what the insert itself does.

A record that cannot become a row (not JSON, a missing field) raises
``RowError`` naming its position, unless the caller passes a ``rejected``
list: then it is skipped and reported there with the reason, so the caller
can dead-letter it instead of stopping on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, NamedTuple

import orjson
import pyarrow as pa

from projections.summaries import summarize

MS = pa.timestamp("ms", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONEY_STEP = Decimal("0.0001")
_MONEY_LIMIT = Decimal(10) ** 14  # Decimal(18, 4): 14 digits before the point
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, InvalidOperation)


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


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, type_) for name, type_ in fields])


TOUCHPOINTS_SCHEMA = _schema(
    ("tenant", pa.string()), ("customer_id", pa.string()), ("occurred_at", MS),
    ("event_id", pa.string()), ("channel", pa.string()), ("type", pa.string()),
    ("schema_version", pa.uint16()), ("summary", pa.string()), ("payload", pa.string()),
    ("identities", pa.map_(pa.string(), pa.string())), ("identity_flags", pa.list_(pa.string())),
    ("received_at", MS), ("source", pa.string()), ("correlation_id", pa.string()),
    ("conversation_id", pa.string()), ("kafka_partition", pa.uint16()), ("kafka_offset", pa.uint64()),
)  # fmt: skip
CUSTOMERS_SCHEMA = _schema(
    ("tenant", pa.string()), ("customer_id", pa.string()), ("version", pa.uint64()),
    ("first_seen", MS), ("identities", pa.map_(pa.string(), pa.list_(pa.string()))),
    ("consent", pa.map_(pa.string(), pa.bool_())), ("survivor_id", pa.string()),
    ("erased", pa.bool_()), ("updated_at", MS),
)  # fmt: skip
CUSTOMER_ALIASES_SCHEMA = _schema(
    ("tenant", pa.string()), ("alias_id", pa.string()), ("survivor_id", pa.string()),
    ("version", pa.uint64()), ("reason", pa.string()), ("cause_event_id", pa.string()),
    ("merged_at", MS),
)  # fmt: skip
IDENTITIES_SCHEMA = _schema(
    ("tenant", pa.string()), ("kind", pa.string()), ("value", pa.string()),
    ("customer_id", pa.string()), ("version", pa.uint64()), ("linked", pa.bool_()),
    ("updated_at", MS),
)  # fmt: skip
ENGAGEMENT_SCORES_SCHEMA = _schema(
    ("tenant", pa.string()), ("customer_id", pa.string()), ("as_of", MS),
    ("model_version", pa.string()), ("score", pa.float64()), ("raw", pa.float64()),
    ("events", pa.uint32()), ("contributions", pa.string()), ("channels", pa.string()),
)  # fmt: skip
RFM_SCHEMA = _schema(
    ("tenant", pa.string()), ("customer_id", pa.string()), ("as_of", MS),
    ("model_version", pa.string()), ("recency_days", pa.float64()), ("frequency", pa.uint32()),
    ("monetary", pa.decimal128(18, 4)), ("segment", pa.string()), ("churn_risk", pa.string()),
)  # fmt: skip
DEADLETTER_SCHEMA = _schema(
    ("tenant", pa.string()), ("failed_at", MS), ("stage", pa.string()), ("reason", pa.string()),
    ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
    ("key", pa.string()), ("value", pa.string()), ("deadletter_partition", pa.uint16()),
    ("deadletter_offset", pa.uint64()),
)  # fmt: skip


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
    except (*_UNREADABLE, pa.ArrowException):
        pass  # some record is bad: redo the batch one checked record at a time
    columns = _TouchpointColumns()
    for record in records:
        body = _decode(record, rejected)
        if body is None or "control" in body:
            continue
        try:
            columns.add(record, body)
        except _UNREADABLE as exc:
            _reject(record, f"not a resolved touchpoint: {exc!r}", rejected)
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

    TEXT = ("tenant", "customer_id", "occurred_at", "event_id", "channel", "type", "summary",
            "payload", "received_at", "source", "correlation_id", "conversation_id")  # fmt: skip

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
        (tenant, customer, occurred, event, channel, type_, summary, payload, received, source,
         correlation, conversation) = (self.text[name].append for name in self.TEXT)  # fmt: skip
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
        flags = [_text(flag) for flag in body.get("identity_flags") or ()]
        row = (
            _text(body["tenant"]), _text(body["customer_id"]), _text(body["occurred_at"]),
            _text(body["event_id"]), _text(body["channel"]), _text(type_),
            summarize(type_, payload), orjson.dumps(payload).decode(),
            _text(body["received_at"]), _text(body["source"]),
            str(body.get("correlation_id") or ""), str(body.get("conversation_id") or ""),
        )  # fmt: skip
        version = int(body["schema_version"])
        if not 0 < version < 2**16:
            raise ValueError(f"schema_version {version} out of range")
        kinds = [_text(k) for k in identities]
        values = [_text(v) for v in identities.values()]
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
        parsed = [_ms_or_none(text) for text in texts]
        return pa.array(parsed, MS), {i for i, ms in enumerate(parsed) if ms is None}


def _without(
    table: pa.Table, records: list[SourceRecord], bad: set[int], rejected: list[Rejected] | None
) -> pa.Table:
    if not bad:
        return table
    for i in sorted(bad):
        _reject(records[i], "a timestamp is not an RFC 3339 date-time with an offset", rejected)
    keep = pa.array([i not in bad for i in range(table.num_rows)], pa.bool_())
    return table.filter(keep)


# -- customers -> customers, customer_aliases, identities -----------------------------


class _CustomerEvent(NamedTuple):
    """The parts of a ``customers`` record every table reads."""

    type: str
    tenant: str
    customer_id: str
    recorded_us: int
    data: dict[str, Any]
    profile: dict[str, Any]


def customer_rows(
    records: Iterable[SourceRecord], rejected: list[Rejected] | None = None
) -> dict[str, pa.Table]:
    """``customers``, ``customer_aliases`` and ``identities`` rows from customer events.

    - ``customers``: one row per customer in the batch, from the record whose
      ``profile.version`` is highest (the last such record on a tie): the
      profile is the whole customer as the identity store knew it when it was
      relayed, so the newest one replaces the rest (ReplacingMergeTree(version),
      version = the Customer aggregate's version). ``survivor_id`` is
      ``merged_into`` or the customer itself.
    - ``customer_aliases``: ``MergedIntoSurvivor`` maps the merged-away customer
      to its survivor; ``CustomersMerged`` re-points the absorbed customer and
      every id in the survivor's ``profile.aliases`` to the survivor, so an
      alias of an alias follows the chain to the current survivor.
    - ``identities``: ``IdentityLinked`` links (kind, value) to the customer;
      ``CustomersMerged`` re-points the absorbed customer's identifiers to the
      survivor. ``IdentityDetached`` gives nothing: the new owner's
      ``IdentityLinked`` follows it. ``CustomerErased`` gives nothing either:
      its profile no longer holds the values, so the projector must write
      ``linked = false`` rows for the identities it has for the customer and
      its aliases (``version`` = the erasure's ``recorded_at`` in µs, as below).

    ``version`` in ``customer_aliases`` and ``identities`` is the event's
    ``recorded_at`` in microseconds since the epoch, not an aggregate version:
    rows for one key come from different customers (the alias and each later
    survivor; the old and new owner of an identifier), whose aggregate
    versions do not compare, while the identity store records a later change
    at a later time.
    """
    profiles: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
    aliases: list[tuple[str, str, str, int, str, str, int]] = []
    identities: list[tuple[str, str, str, str, int, bool, int]] = []
    for record in records:
        body = _decode(record, rejected)
        if body is None:
            continue
        try:
            event = _customer_event(body)
            profile, linked, merged = (
                _customer_row(event),
                _identity_rows(event),
                _alias_rows(event),
            )
        except _UNREADABLE as exc:
            _reject(record, f"not a customer event with a profile: {exc!r}", rejected)
            continue
        key, version = (event.tenant, event.customer_id), profile[2]
        if key not in profiles or version >= profiles[key][0]:
            profiles[key] = (version, profile)
        aliases += merged
        identities += linked
    return {
        "customers": _table(CUSTOMERS_SCHEMA, [row for _, row in profiles.values()]),
        "customer_aliases": _table(CUSTOMER_ALIASES_SCHEMA, aliases),
        "identities": _table(IDENTITIES_SCHEMA, identities),
    }


def _customer_event(body: dict[str, Any]) -> _CustomerEvent:
    return _CustomerEvent(
        _text(body["type"]), _text(body["tenant"]), _text(body["customer_id"]),
        _us(body["recorded_at"]), dict(body.get("data") or {}), dict(body["profile"]),
    )  # fmt: skip


def _alias_rows(event: _CustomerEvent) -> list[tuple[str, str, str, int, str, str, int]]:
    data, at = event.data, event.recorded_us // 1000
    reason, cause = str(data.get("reason", "")), str(data.get("cause_event_id", ""))
    if event.type == "MergedIntoSurvivor":
        survivor = _text(data["survivor_id"])
        return [(event.tenant, event.customer_id, survivor, event.recorded_us, reason, cause, at)]
    if event.type != "CustomersMerged":
        return []
    absorbed = [data.get("absorbed_id"), *data.get("absorbed_aliases", ()),
                *event.profile.get("aliases", ())]  # fmt: skip
    ids = dict.fromkeys(str(a) for a in absorbed if a and str(a) != event.customer_id)
    return [(event.tenant, alias, event.customer_id, event.recorded_us, reason, cause, at)
            for alias in ids]  # fmt: skip


def _identity_rows(event: _CustomerEvent) -> list[tuple[str, str, str, str, int, bool, int]]:
    data, at = event.data, event.recorded_us // 1000
    if event.type == "IdentityLinked":
        pairs = [(data["kind"], data["value"])]
    elif event.type == "CustomersMerged":
        pairs = [(kind, value) for kind, values in (data.get("identities") or {}).items()
                 for value in values]  # fmt: skip
    else:
        return []
    return [(event.tenant, str(kind), str(value), event.customer_id, event.recorded_us, True, at)
            for kind, value in pairs]  # fmt: skip


def _customer_row(e: _CustomerEvent) -> tuple[Any, ...]:
    profile = e.profile
    identities = profile.get("identities") or {}
    consent = profile.get("consent") or {}
    return (
        e.tenant, e.customer_id, int(profile["version"]), _ms(profile["first_seen"]),
        [(_text(kind), [_text(v) for v in values]) for kind, values in identities.items()],
        [(_text(channel), bool(granted)) for channel, granted in consent.items()],
        str(profile.get("merged_into") or e.customer_id), bool(profile.get("erased")),
        e.recorded_us // 1000,
    )  # fmt: skip


# -- scores -> engagement_scores, rfm ---------------------------------------------------


def score_rows(
    records: Iterable[SourceRecord], rejected: list[Rejected] | None = None
) -> dict[str, pa.Table]:
    """``engagement_scores`` (every published score: the history) and ``rfm`` rows.

    ``contributions`` and ``channels`` are compact JSON, as published.
    ``monetary`` is rounded half-to-even to the column's 4 decimals (the model
    computes it exactly from decimal strings; a currency with more than 4
    decimals is the only thing that loses precision here).
    """
    scores: list[tuple[Any, ...]] = []
    rfms: list[tuple[Any, ...]] = []
    for record in records:
        body = _decode(record, rejected)
        if body is None:
            continue
        try:
            score, rfm = _score_row(body), _rfm_row(body)
        except _UNREADABLE as exc:
            _reject(record, f"not a published score: {exc!r}", rejected)
            continue
        scores.append(score)
        rfms.append(rfm)
    return {
        "engagement_scores": _table(ENGAGEMENT_SCORES_SCHEMA, scores),
        "rfm": _table(RFM_SCHEMA, rfms),
    }


def _score_row(body: dict[str, Any]) -> tuple[Any, ...]:
    engagement = body["engagement"]
    return (
        _text(body["tenant"]), _text(body["customer_id"]), int(body["as_of_ms"]),
        _text(body["model_version"]), float(engagement["score"]), float(engagement["raw"]),
        int(body["events"]), orjson.dumps(engagement["contributions"]).decode(),
        orjson.dumps(body.get("channels") or {}).decode(),
    )  # fmt: skip


def _rfm_row(body: dict[str, Any]) -> tuple[Any, ...]:
    rfm = body["rfm"]
    recency = rfm.get("recency_days")
    return (
        _text(body["tenant"]), _text(body["customer_id"]), int(body["as_of_ms"]),
        _text(body["model_version"]), None if recency is None else float(recency),
        int(rfm["frequency"]), _money(rfm["monetary"]), _text(rfm["segment"]),
        _text(rfm["churn_risk"]),
    )  # fmt: skip


def _money(text: Any) -> Decimal:
    amount = Decimal(str(text)).quantize(_MONEY_STEP, ROUND_HALF_EVEN)
    if not amount.is_finite() or abs(amount) >= _MONEY_LIMIT:
        raise ValueError(f"monetary {text!r} does not fit Decimal(18, 4)")
    return amount


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
            body = {"reason": "unreadable dead-letter record", "value": _bytes_text(record.value)}
        key = _bytes_text(record.key or b"")
        rows.append((
            _tenant_of(body, key), record.timestamp_ms, str(body.get("stage") or ""),
            str(body.get("reason") or ""), str(body.get("topic") or ""),
            _int_or(body.get("partition"), -1), _int_or(body.get("offset"), -1), key,
            _failed_value(body), record.partition, record.offset,
        ))  # fmt: skip
    return _table(DEADLETTER_SCHEMA, rows)


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
    return next((c for c in candidates if isinstance(c, str) and _TENANT.fullmatch(c)), "")


# -- shared pieces ------------------------------------------------------------------------


def _decode(record: SourceRecord, rejected: list[Rejected] | None) -> dict[str, Any] | None:
    try:
        body = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        _reject(record, f"not JSON: {exc}", rejected)
        return None
    if not isinstance(body, dict):
        _reject(record, "not a JSON object", rejected)
        return None
    return body


def _reject(record: SourceRecord, reason: str, rejected: list[Rejected] | None) -> None:
    if rejected is None:
        raise RowError(record, reason)
    rejected.append(Rejected(record, reason))


def _table(schema: pa.Schema, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """Row tuples (in schema order) to a table, converting each column once."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [pa.array(column, field.type) for column, field in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _text(value: Any) -> str:
    """A required text field: present and a string (``None`` or a number is a bad record)."""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def _instant(text: Any) -> datetime:
    value = datetime.fromisoformat(_text(text))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return value


def _us(text: Any) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    delta = _instant(text) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _ms(text: Any) -> int:
    return _us(text) // 1000


def _ms_or_none(text: str) -> int | None:
    try:
        return _ms(text)
    except (TypeError, ValueError):
        return None


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _bytes_text(data: bytes) -> str:
    return bytes(data).decode("utf-8", "replace")
