"""The projector: Kafka topics in, ClickHouse rows out, exactly once as readers see it.

It reads ``touchpoints.resolved``, ``customers``, ``scores`` and
``touchpoints.deadletter`` and writes them in batches (flush on size or
time). Why insert dedup tokens, and how they stay exact across a crash:

* Aggregates are materialized views over ``touchpoints``: a duplicate insert
  would be counted twice there even if ReplacingMergeTree later folded the
  base row. So a re-delivered batch must be *dropped on insert*, which is
  what ``insert_deduplication_token`` does (with the tables'
  ``non_replicated_deduplication_window``), views included.
* A token only matches if the batch is cut the same way again. Before each
  insert the projector commits an *intent* to Kafka: for every partition of
  the flush, the offset it starts at, with commit metadata naming the flush
  (its id and range). After the insert it commits the end. A restart that
  finds an intent re-reads exactly those ranges and inserts them with the
  same tokens first; ClickHouse drops what it already has.

Offsets are committed only after ClickHouse has the rows, so nothing is lost;
the tokens make the repeat invisible. One projector owns the partitions (it
assigns them itself): chDB is embedded in one process anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from events.contracts.deadletter import dead_letter
from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from projections import rows
from projections.rows import SourceRecord
from projections.serving_index import ServingIndex, forget_mark
from projections.store import ProjectionStore

log = logging.getLogger(__name__)
INTENT = "intent"
STATUS_EVERY_S = 1.0  # how often a busy projector writes projection_status
SOURCES = (RESOLVED, CUSTOMERS, SCORES, DEADLETTER)


def tables_for(topic: str, records: Sequence[SourceRecord]) -> dict[str, pa.Table]:
    """The rows one topic's records become, by table.

    A record that cannot become a row is not dropped: it becomes a
    ``deadletter`` row (stage ``projector``) with the reason, in the same flush.
    """
    rejected: list[rows.Rejected] = []
    if topic == RESOLVED:
        tables = {"touchpoints": rows.touchpoint_rows(records, rejected)}
    elif topic == CUSTOMERS:
        tables = rows.customer_rows(records, rejected)
    elif topic == SCORES:
        tables = rows.score_rows(records, rejected)
    elif topic == DEADLETTER:
        tables = {"deadletter": rows.deadletter_rows(records)}
    else:
        raise ValueError(f"the projector does not read {topic!r}")
    if rejected:
        tables["deadletter"] = rows.deadletter_rows([_dead(r) for r in rejected])
    return tables


def _dead(rejected: rows.Rejected) -> SourceRecord:
    source = rejected.record
    letter = dead_letter("projector", "unprojectable_record", rejected.reason, source)
    return source._replace(value=letter.encode())


@dataclass(frozen=True)
class Flush:
    """One flush: for each partition, the inclusive offset range it covers."""

    ranges: Mapping[TopicPartition, tuple[int, int]]

    @property
    def flush_id(self) -> str:
        text = ";".join(f"{tp.topic}:{tp.partition}:{a}-{b}" for tp, (a, b) in sorted(
            self.ranges.items(), key=lambda kv: (kv[0].topic, kv[0].partition)))  # fmt: skip
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

    def intent(self) -> dict[TopicPartition, OffsetAndMetadata]:
        return {tp: OffsetAndMetadata(a, f"{INTENT}:{a}-{b}:{self.flush_id}")
                for tp, (a, b) in self.ranges.items()}  # fmt: skip

    def done(self) -> dict[TopicPartition, OffsetAndMetadata]:
        return {tp: OffsetAndMetadata(b + 1, "") for tp, (_, b) in self.ranges.items()}


def parse_intent(metadata: str) -> tuple[int, int, str] | None:
    if not metadata.startswith(INTENT + ":"):
        return None
    _, span, flush_id = metadata.split(":", 2)
    first, last = span.split("-")
    return int(first), int(last), flush_id


@dataclass
class ProjectorStats:
    flushes: int = 0
    rows: int = 0
    records: int = 0
    last_flush_at: float = 0.0
    last_flush_s: float = 0.0  # how long the last flush took to write, commit included
    by_table: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Projector:
    """Consumes the projected topics and writes ClickHouse in flushes."""

    def __init__(
        self,
        store: ProjectionStore,
        bootstrap: str,
        group: str = "touchline-projector",
        flush_rows: int = 20_000,
        flush_interval_s: float = 0.5,
        topics: Sequence[str] = SOURCES,
        on_flush: Callable[[Flush, dict[str, int]], None] | None = None,
        rename: Mapping[str, str] | None = None,
        until: Mapping[TopicPartition, int] | None = None,
        on_change: Callable[[set[tuple[str, str]]], None] | None = None,
        serving: ServingIndex | None = None,
    ) -> None:
        """``rename`` writes some tables under other names (a replay's new version);
        ``until`` stops once every partition has reached those offsets (a replay's end);
        ``on_change`` hears, right after each write is readable, the (tenant, customer id)
        pairs whose rows it added or deleted (the agent API's cache drops them);
        ``serving`` is the agents' index, written beside the live tables. A projector
        writing the live tables without it unmarks the store: the index no longer
        mirrors them."""
        self.store = store
        self.bootstrap = bootstrap
        self.group = group
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.topics = tuple(topics)
        self.on_flush = on_flush
        self.on_change = on_change
        self.rename = dict(rename or {})
        self.serving = serving if not self.rename else None
        self.until = dict(until) if until is not None else None
        self.stats = ProjectorStats()
        self.running = False  # recovered and projecting (what its heartbeat says)
        self.erasures = Erasures()
        #: held while a flush is written; a replay takes it to swap tables between flushes
        self.writing = threading.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        # flushed but not yet in projection_status: last offset per partition, and rows
        self._unreported: dict[TopicPartition, int] = {}
        self._unreported_rows = 0
        self._reported_at = 0.0
        #: (projection, topic, partition) -> (lag, written at), as in projection_status
        self._status: dict[tuple[str, str, int], tuple[int, Any]] | None = None

    async def run(self) -> None:
        """Recover an interrupted flush, then project until ``stop()``."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    isolation_level="read_committed", max_poll_records=self.flush_rows)  # fmt: skip
        await consumer.start()
        self._consumer = consumer
        try:
            if self.serving is None and not self.rename:
                await asyncio.to_thread(forget_mark, self.store)
            await asyncio.to_thread(self.erasures.load, self.store, self.table)
            await asyncio.to_thread(self.load_status)
            partitions = await self._assign(consumer)
            committed = await self._committed(partitions)
            await self._recover(consumer, committed)
            for tp in partitions:
                meta = committed.get(tp)
                if meta is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    intent = parse_intent(meta.metadata)
                    consumer.seek(tp, meta.offset if intent is None else intent[1] + 1)
            self.running = True
            await self._loop(consumer)
        finally:
            self.running = False
            self._consumer = None
            await consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    def table(self, name: str) -> str:
        return self.rename.get(name, name)

    async def _reached_end(self, consumer: AIOKafkaConsumer) -> bool:
        if self.until is None:
            return False
        for tp, end in self.until.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        partitions = [TopicPartition(topic, p) for topic in self.topics
                      for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))]  # fmt: skip
        consumer.assign(partitions)
        return partitions

    async def _committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, Any]:
        delay = 0.5
        while True:  # a fresh broker has no group coordinator for a few seconds: wait for it
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            try:
                await admin.start()
                found = await admin.list_consumer_group_offsets(self.group)
                break
            except KafkaError as exc:
                log.warning("group offsets of %s not available yet (%r); retrying in %.1fs",
                            self.group, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(KafkaError, RuntimeError):  # a client that never started
                    await admin.close()
        wanted = set(partitions)
        return {tp: meta for tp, meta in found.items() if tp in wanted and meta.offset >= 0}

    async def _recover(
        self, consumer: AIOKafkaConsumer, committed: dict[TopicPartition, Any]
    ) -> None:
        """Redo an interrupted flush with its own cut, so its tokens match what may be written."""
        intents: dict[str, dict[TopicPartition, tuple[int, int]]] = defaultdict(dict)
        for tp, meta in committed.items():
            parsed = parse_intent(meta.metadata or "")
            if parsed is not None:
                first, last, flush_id = parsed
                intents[flush_id][tp] = (first, last)
        for flush_id, ranges in intents.items():
            flush = Flush(ranges)
            if flush.flush_id != flush_id:
                log.warning(
                    "flush %s: only part of its intent survived; redoing %s", flush_id, ranges
                )
            pending: dict[TopicPartition, list[SourceRecord]] = {}
            for tp, (first, last) in ranges.items():
                pending[tp] = await _read_range(consumer, tp, first, last)
            log.warning("redoing interrupted flush %s (%d records)", flush_id,
                        sum(map(len, pending.values())))  # fmt: skip
            await self._write(Flush(ranges), pending, flush_id)

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        """Flush on size, on time, or as soon as nothing more is buffered (group commit).

        A flush is several ClickHouse inserts and takes far longer than a
        fetch, so waiting out the interval while idle only adds latency: what
        arrives during one flush forms the next. Under load the batches grow
        by themselves, up to ``flush_rows``.

        Touchpoints go first: while the profile topics' records are younger
        than the interval, a flush writes only ``touchpoints.resolved`` and
        keeps the rest for the next one. On chDB every insert costs 15-75 ms
        whatever its size, and a flush of every table is about eight of them:
        an event arriving during one waited for all of them.
        """
        pending: dict[TopicPartition, list[SourceRecord]] = defaultdict(list)
        count, started = 0, time.monotonic()
        others_since: float | None = None  # when the oldest held profile record arrived
        while not self._stopping.is_set() and not await self._reached_end(consumer):
            # the poll wait is short whatever the interval: ``stop()`` is seen within a second
            wait_ms = int(min(self.flush_interval_s / 2, 1.0) * 1000)
            got = await consumer.getmany(timeout_ms=wait_ms, max_records=self.flush_rows)
            caught_up = not got
            while got:
                for tp, records in got.items():
                    pending[tp].extend(_source(r) for r in records)
                    count += len(records)
                    if tp.topic != RESOLVED and others_since is None:
                        others_since = time.monotonic()
                if count >= self.flush_rows:
                    break
                got = await consumer.getmany(timeout_ms=0, max_records=self.flush_rows - count)
                caught_up = not got
            if not count:
                started = time.monotonic()
                if self._unreported:  # idle: a good moment for the status row held back
                    await asyncio.to_thread(self._record_status)
                continue
            if (
                caught_up
                or count >= self.flush_rows
                or time.monotonic() - started >= self.flush_interval_s
            ):
                held = self._held_back(pending, count, others_since)
                await self.flush({tp: r for tp, r in pending.items() if tp not in held})
                pending = defaultdict(list, held)
                count = sum(map(len, held.values()))
                if not held:
                    others_since = None
                started = others_since if others_since is not None else time.monotonic()
        if count:
            await self.flush(pending)
        if self._unreported:
            await asyncio.to_thread(self._record_status)

    def _held_back(
        self,
        pending: Mapping[TopicPartition, list[SourceRecord]],
        count: int,
        others_since: float | None,
    ) -> dict[TopicPartition, list[SourceRecord]]:
        """The profile topics' records to keep for the next flush, so touchpoints are written now."""
        if others_since is None or count >= self.flush_rows:
            return {}
        if time.monotonic() - others_since >= self.flush_interval_s:
            return {}
        if not any(records for tp, records in pending.items() if tp.topic == RESOLVED):
            return {}
        return {tp: records for tp, records in pending.items() if tp.topic != RESOLVED and records}

    async def flush(self, pending: Mapping[TopicPartition, list[SourceRecord]]) -> None:
        batch = {tp: records for tp, records in pending.items() if records}
        if not batch:
            return
        flush = Flush(
            {tp: (records[0].offset, records[-1].offset) for tp, records in batch.items()}
        )
        assert self._consumer is not None
        await self._consumer.commit(flush.intent())
        await self._write(flush, batch, flush.flush_id)

    async def _write(
        self, flush: Flush, batch: Mapping[TopicPartition, list[SourceRecord]], flush_id: str
    ) -> None:
        await asyncio.to_thread(self.writing.acquire)
        try:
            await self._write_held(flush, batch, flush_id)
        finally:
            self.writing.release()

    async def _write_held(
        self, flush: Flush, batch: Mapping[TopicPartition, list[SourceRecord]], flush_id: str
    ) -> None:
        began = time.perf_counter()
        by_topic: dict[str, list[SourceRecord]] = defaultdict(list)
        # touchpoints first: what an agent waits to see; the profile tables follow
        for tp, records in sorted(batch.items(), key=lambda kv: (kv[0].topic != RESOLVED,
                                                                 kv[0].topic, kv[0].partition)):  # fmt: skip
            by_topic[tp.topic].extend(records)
        written: dict[str, int] = {}
        for topic, records in by_topic.items():
            if topic == RESOLVED:
                unseen = await asyncio.to_thread(self._unseen, records)
                unseen = {k: r for k, r in unseen.items() if not self.erasures.covers(r)}
                records = list(unseen.values())
            for table, arrow in tables_for(topic, records).items():
                # one token per (table, source topic, flush): two topics may feed one table
                written[table] = written.get(table, 0) + await asyncio.to_thread(
                    self.store.insert_arrow, self.table(table), arrow, f"{table}:{topic}:{flush_id}"
                )
                if self.serving is not None:  # before touchpoint_ids: a redone flush rewrites it
                    await asyncio.to_thread(self.serving.apply, table, arrow)
                if self.on_change is not None:
                    self.on_change(customers_in(arrow))
            if topic == RESOLVED:  # after touchpoints: a crash in between must not hide an event
                ids = touchpoint_ids(list(unseen))
                await asyncio.to_thread(
                    self.store.insert_arrow,
                    self.table("touchpoint_ids"),
                    ids,
                    f"touchpoint_ids:{flush_id}",
                )
        erased = self.erasures.found_in(by_topic.get(CUSTOMERS, []))
        if erased:  # after this flush's rows: the erasure must also remove what just arrived
            await asyncio.to_thread(self.erasures.apply, self.store, erased, self.table)
            if self.serving is not None:
                for tenant, people, _ in erased:
                    await asyncio.to_thread(self.serving.erase, tenant, people)
            if self.on_change is not None:
                self.on_change(
                    {(tenant, person) for tenant, people, _ in erased for person in people}
                )
        self._unreported.update({tp: last for tp, (_, last) in flush.ranges.items()})
        self._unreported_rows += sum(written.values())
        if time.monotonic() - self._reported_at >= STATUS_EVERY_S:
            await asyncio.to_thread(self._record_status)
        assert self._consumer is not None
        await self._consumer.commit(flush.done())
        self.stats.flushes += 1
        self.stats.records += sum(map(len, batch.values()))
        self.stats.rows += sum(written.values())
        self.stats.last_flush_at = time.time()
        self.stats.last_flush_s = time.perf_counter() - began
        for table, n in written.items():
            self.stats.by_table[table] += n
        if self.on_flush is not None:
            self.on_flush(flush, written)

    def _unseen(self, records: Sequence[SourceRecord]) -> dict[tuple[str, str], SourceRecord]:
        """The dedup stage: per (tenant, event_id) not projected before, its earliest sighting.

        Within a flush the copies are compared by ``rows.sighting_order``, so
        the kept copy does not depend on the order partitions were read in.
        """
        keys: dict[tuple[str, str], SourceRecord] = {}
        for record in records:
            key = rows.event_key(record)
            if key is None:
                continue
            kept = keys.get(key)
            if kept is None or rows.sighting_order(record) < rows.sighting_order(kept):
                keys[key] = record
        if not keys:
            return {}
        seen = self.store.query_rows(
            f"SELECT tenant, toString(event_id) FROM {self.table('touchpoint_ids')} "
            "WHERE (tenant, event_id) IN (SELECT tupleElement(k, 1), toUUID(tupleElement(k, 2)) "
            "FROM (SELECT arrayJoin(arrayZip({ts:Array(String)}, {es:Array(String)})) AS k))",
            {"ts": [t for t, _ in keys], "es": [e for _, e in keys]},
        )
        for tenant, event_id in seen:
            keys.pop((tenant, event_id), None)
        return keys

    def _record_status(self) -> None:
        """One ``projection_status`` row per partition flushed since the last call.

        At most once a second while busy (and at once when idle): each row is
        an insert like any other, and it was one in every flush.
        """
        now = datetime.now(UTC)
        unreported, rows_written = self._unreported, self._unreported_rows
        self._unreported, self._unreported_rows = {}, 0
        self._reported_at = time.monotonic()
        names, topics, partitions, offsets, lags = [], [], [], [], []
        consumer = self._consumer
        for tp, last in unreported.items():
            high = consumer.highwater(tp) if consumer is not None else None
            names.append(_projection_of(tp.topic))
            topics.append(tp.topic)
            partitions.append(tp.partition)
            offsets.append(last)
            lags.append(max((high or last + 1) - last - 1, 0))
        status = pa.table({
            "projection_name": names, "topic": topics,
            "partition": pa.array(partitions, pa.uint16()), "last_offset": pa.array(offsets, pa.int64()),
            "lag": pa.array(lags, pa.int64()),
            "rows_written": pa.array([rows_written] * len(names), pa.uint64()),
            "updated_at": pa.array([now] * len(names), pa.timestamp("ms", tz="UTC")),
        })  # fmt: skip
        token = Flush({tp: (last, last) for tp, last in unreported.items()}).flush_id
        self.store.insert_arrow(self.table("projection_status"), status,
                                f"projection_status:{token}")  # fmt: skip
        if self._status is not None:
            at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as stored: ms
            for name, topic, partition, lag in zip(names, topics, partitions, lags, strict=True):
                self._status[(name, topic, partition)] = (lag, at)

    def load_status(self) -> None:
        """Read ``projection_status`` once; from then on ``freshness`` answers from memory."""
        rows_ = self.store.query_rows(
            f"SELECT projection_name, topic, partition, argMax(lag, updated_at), max(updated_at) "
            f"FROM {self.table('projection_status')} GROUP BY projection_name, topic, partition"
        )
        self._status = {(str(n), str(t), int(p)): (int(lag), at) for n, t, p, lag, at in rows_}

    def freshness(self) -> dict[str, Any] | None:
        """What ``reads.freshness`` reads from the store, as this projector last wrote it.

        The agent API asked the store every second; in embedded chDB a query
        run on another thread still stops the event loop for up to 40 ms
        (measured), which was a visible share of its p99. None before
        ``load_status``.
        """
        if self._status is None:
            return None
        found: dict[str, dict[str, Any]] = {}
        for (name, _, _), (lag, at) in sorted(self._status.items()):
            seen = found.setdefault(name, {"lag_records": 0, "last_write": at})
            seen["lag_records"] += lag
            seen["last_write"] = max(seen["last_write"], at)
        return found


def customers_in(table: pa.Table) -> set[tuple[str, str]]:
    """(tenant, id) of every customer a table's rows name: owner, alias or survivor."""
    if "tenant" not in table.column_names:
        return set()
    tenants = table.column("tenant").to_pylist()
    found: set[tuple[str, str]] = set()
    for name in ("customer_id", "alias_id", "survivor_id"):
        if name in table.column_names:
            found.update(zip(tenants, table.column(name).to_pylist(), strict=True))
    return found


def touchpoint_ids(keys: Sequence[tuple[str, str]]) -> pa.Table:
    return pa.table({
        "tenant": [t for t, _ in keys],
        "event_id": pa.array([e for _, e in keys], pa.string()),
    })  # fmt: skip


class Erasures:
    """Erased customers: their rows are deleted, and never written again.

    A ``CustomerErased`` event removes the customer's (and its aliases')
    timeline, scores and RFM rows and unlinks their identifiers; events the
    worker had resolved to them before the erasure and that arrive later are
    dropped on the way in. Aggregates keep their counts (no personal data).
    The set is loaded from ``customers`` at start, so a restart or a replay
    applies it too.
    """

    def __init__(self) -> None:
        self.erased: set[tuple[str, str]] = set()

    def load(self, store: ProjectionStore, table: Callable[[str], str]) -> None:
        rows_ = store.query_rows(
            f"SELECT tenant, toString(customer_id) FROM {table('customers')} "
            "GROUP BY tenant, customer_id HAVING argMax(erased, version)"
        )
        self.erased = {(str(t), str(c)) for t, c in rows_}

    def covers(self, record: SourceRecord) -> bool:
        if not self.erased:
            return False
        body = orjson.loads(record.value)
        return (body.get("tenant"), body.get("customer_id")) in self.erased

    def found_in(self, records: Sequence[SourceRecord]) -> list[tuple[str, list[str], int]]:
        """(tenant, the customer and its aliases, erasure time in µs) for each erasure."""
        found = []
        for record in records:
            body = orjson.loads(record.value)
            if body.get("type") == "CustomerErased":
                people = [body["customer_id"], *body.get("profile", {}).get("aliases", [])]
                at = datetime.fromisoformat(body["recorded_at"])
                found.append((body["tenant"], people, int(at.timestamp() * 1_000_000)))
        return found

    def apply(
        self,
        store: ProjectionStore,
        erased: list[tuple[str, list[str], int]],
        table: Callable[[str], str],
    ) -> None:
        for tenant, people, at_us in erased:
            params: dict[str, Any] = {"t": tenant, "ids": people, "v": at_us}
            store.command(
                f"INSERT INTO {table('identities')} (tenant, kind, value, customer_id, version, "
                "linked, updated_at) SELECT tenant, kind, value, customer_id, {v:UInt64}, false, "
                f"now64(3) FROM {table('identities')} WHERE tenant = {{t:String}} "
                "AND has({ids:Array(UUID)}, customer_id)",
                params,
            )
            for name in ("touchpoints", "engagement_scores", "engagement_current", "rfm"):
                store.command(
                    f"DELETE FROM {table(name)} WHERE tenant = {{t:String}} "
                    "AND has({ids:Array(UUID)}, customer_id)",
                    params,
                )
            self.erased.update((tenant, person) for person in people)


def _projection_of(topic: str) -> str:
    return {RESOLVED: "touchpoints", CUSTOMERS: "customers", SCORES: "engagement_scores",
            DEADLETTER: "deadletter"}.get(topic, topic)  # fmt: skip


def _source(record: Any) -> SourceRecord:
    return SourceRecord(record.topic, record.partition, record.offset, record.key, record.value,
                        record.timestamp)  # fmt: skip


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(100):
        await (
            consumer._client.force_metadata_update()
        )  # a fresh consumer may not know the topic yet
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)
    raise RuntimeError(
        f"topic {topic!r} does not exist (run `touchline kafka start` / ensure topics)"
    )


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, first: int, last: int
) -> list[SourceRecord]:
    consumer.seek(tp, first)
    found: list[SourceRecord] = []
    while True:
        got = await consumer.getmany(tp, timeout_ms=1000, max_records=last - first + 1)
        records = got.get(tp, [])
        found.extend(_source(r) for r in records if first <= r.offset <= last)
        position = await consumer.position(tp)
        if position > last or (not records and position >= (consumer.highwater(tp) or 0)):
            return found
