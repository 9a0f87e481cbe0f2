"""The projector: Kafka topics in, ClickHouse rows out, exactly once as readers see it.

Long because the consumer's life (assign, recover an interrupted flush, poll,
flush, commit) is one sequence; every decision in it lives in its own module.

It reads ``touchpoints.resolved``, ``customers``, ``scores``, ``segments`` and
``touchpoints.deadletter`` and writes them in flushes (on size, time, or as
soon as it has caught up). Each flush commits an intent first and its end
last (``flushes``), so a crash in between is redone with the same insert
tokens; new touchpoints pass the dedup stage (``dedup``); the rows go to
every sink (``sinks``: the tables, the serving index, the read side);
erasures follow the rows they arrive with (``erasures``); and the projector
reports how far behind it is (``status``). Offsets are committed only after
ClickHouse has the rows, so nothing is lost; the tokens make a repeat
invisible. One projector owns the partitions (it assigns them itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from events.contracts.deadletter import dead_letter
from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES, SEGMENTS
from projections import rows
from projections.dedup import Dedup
from projections.erasures import Erasures
from projections.flushes import Flush, held_back, parse_intent
from projections.log import partitions_of
from projections.opening import Opener
from projections.profiles import Precedence
from projections.rows import SourceRecord
from projections.serving_index import forget_mark
from projections.sinks import ClickHouseTables, ServingIndexSink, Sink
from projections.status import StatusBook
from projections.store import ProjectionStore

log = logging.getLogger(__name__)
SOURCES = (RESOLVED, CUSTOMERS, SCORES, DEADLETTER, SEGMENTS)


def tables_for(
    topic: str,
    records: Sequence[SourceRecord],
    rejected: list[rows.Rejected] | None = None,
    precedence: Precedence | None = None,
) -> dict[str, pa.Table]:
    """The rows one topic's records become, by table.

    A record that cannot become a row is not dropped: it becomes a
    ``deadletter`` row (stage ``projector``) with the reason, in the same flush
    (``rejected`` may already hold some: the records that could not be opened).
    """
    rejected = [] if rejected is None else rejected
    if topic == RESOLVED:
        tables = {
            "touchpoints": rows.touchpoint_rows(records, rejected),
            **rows.profile_rows(records, precedence),
        }
    elif topic == CUSTOMERS:
        tables = rows.customer_rows(records, rejected)
    elif topic == SCORES:
        tables = rows.score_rows(records, rejected)
    elif topic == DEADLETTER:
        tables = {"deadletter": rows.deadletter_rows(records)}
    elif topic == SEGMENTS:
        tables = rows.segment_rows(records, rejected)
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
class ProjectorConfig:
    """``rename`` writes some tables under other names (a replay's new version); ``until`` stops
    once every partition has reached those offsets (a replay's end)."""

    group: str = "touchline-projector"
    flush_rows: int = 20_000
    flush_interval_s: float = 0.5
    topics: Sequence[str] = SOURCES
    rename: Mapping[str, str] = field(default_factory=dict)
    until: Mapping[TopicPartition, int] | None = None
    #: profile sources, most trusted first (``projections.profiles.Precedence``)
    precedence: Sequence[str] = ()


@dataclass
class ProjectorStats:
    flushes: int = 0
    rows: int = 0
    records: int = 0
    last_flush_at: float = 0.0
    last_flush_s: float = 0.0  # how long the last flush took to write, commit included
    by_table: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Projector:
    """Consumes the projected topics and writes every sink in flushes."""

    def __init__(
        self,
        store: ProjectionStore,
        bootstrap: str,
        config: ProjectorConfig | None = None,
        followers: Sequence[Sink] = (),
        on_flush: Callable[[Flush, dict[str, int]], None] | None = None,
        opener: Opener | None = None,
    ) -> None:
        """``followers``: sinks written after the tables (the serving index, the read side);
        ``opener``: reads sealed values in clear (None: the log holds them in clear)."""
        self.store, self.bootstrap = store, bootstrap
        self.opener = opener
        self.config = config or ProjectorConfig()
        self.precedence = Precedence(self.config.precedence)
        self.on_flush = on_flush
        self.stats = ProjectorStats()
        self.running = False  # recovered and projecting (what its heartbeat says)
        self.erasures = Erasures()
        self.dedup = Dedup(store, self.table)
        self.status = StatusBook(store, self.table)
        self.sinks: list[Sink] = [ClickHouseTables(store, self.erasures, self.table), *followers]
        #: held while a flush is written; a replay takes it to swap tables between flushes
        self.writing = threading.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()

    def table(self, name: str) -> str:
        return self.config.rename.get(name, name)

    def freshness(self) -> Mapping[str, Any] | None:
        """Each projection's lag and last write, from memory (None before the first reading)."""
        return self.status.freshness()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Recover an interrupted flush, then project until ``stop()``."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.config.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.config.flush_rows,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            if not self.config.rename and not any(
                isinstance(s, ServingIndexSink) for s in self.sinks
            ):
                # the live tables change without the index: it no longer mirrors them
                await asyncio.to_thread(forget_mark, self.store)
            await asyncio.to_thread(self.erasures.load, self.store, self.table)
            await asyncio.to_thread(self.status.load)
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

    async def _reached_end(self, consumer: AIOKafkaConsumer) -> bool:
        if self.config.until is None:
            return False
        for tp, end in self.config.until.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        partitions = await partitions_of(self.bootstrap, list(self.config.topics))
        consumer.assign(partitions)
        return partitions

    async def _committed(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, Any]:
        delay = 0.5
        while True:  # a fresh broker has no group coordinator for a few seconds: wait for it
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            try:
                await admin.start()
                found = await admin.list_consumer_group_offsets(self.config.group)
                break
            except KafkaError as exc:
                log.info(
                    "group offsets of %s not available yet (%r); retrying in %.1fs",
                    self.config.group,
                    exc,
                    delay,
                )
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
            log.warning(
                "redoing interrupted flush %s (%d records)",
                flush_id,
                sum(map(len, pending.values())),
            )
            await self._write(Flush(ranges), pending, flush_id)

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        """Flush on size, on time, or as soon as nothing more is buffered (group commit).

        A flush takes far longer than a fetch, so waiting out the interval while
        idle only adds latency: what arrives during one flush forms the next.
        Under load the batches grow by themselves, up to ``flush_rows``.
        Touchpoints go first (``flushes.held_back``).
        """
        limit, interval = self.config.flush_rows, self.config.flush_interval_s
        pending: dict[TopicPartition, list[SourceRecord]] = defaultdict(list)
        count, started = 0, time.monotonic()
        others_since: float | None = None  # when the oldest held profile record arrived
        while not self._stopping.is_set() and not await self._reached_end(consumer):
            # the poll wait is short whatever the interval: ``stop()`` is seen within a second
            got = await consumer.getmany(
                timeout_ms=int(min(interval / 2, 1.0) * 1000), max_records=limit
            )
            caught_up = not got
            while got:
                for tp, records in got.items():
                    pending[tp].extend(_source(r) for r in records)
                    count += len(records)
                    if tp.topic != RESOLVED and others_since is None:
                        others_since = time.monotonic()
                if count >= limit:
                    break
                got = await consumer.getmany(timeout_ms=0, max_records=limit - count)
                caught_up = not got
            if not count:
                started = time.monotonic()
                if self.status.pending:  # idle: a good moment for the status row held back
                    await asyncio.to_thread(self.status.record, consumer.highwater)
                continue
            if caught_up or count >= limit or time.monotonic() - started >= interval:
                held = held_back(pending, count, others_since, limit, interval)
                await self.flush({tp: r for tp, r in pending.items() if tp not in held})
                pending = defaultdict(list, {tp: list(r) for tp, r in held.items()})
                count = sum(map(len, held.values()))
                if not held:
                    others_since = None
                started = others_since if others_since is not None else time.monotonic()
        if count:
            await self.flush(pending)
        if self.status.pending:
            await asyncio.to_thread(self.status.record, consumer.highwater)

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
            began = time.perf_counter()
            written = await asyncio.to_thread(self._write_rows, batch, flush_id)
            self.status.note(flush, sum(written.values()))
            if self.status.due():
                assert self._consumer is not None
                await asyncio.to_thread(self.status.record, self._consumer.highwater)
            assert self._consumer is not None
            await self._consumer.commit(flush.done())
            self._count(flush, batch, written, time.perf_counter() - began)
        finally:
            self.writing.release()

    def _write_rows(
        self, batch: Mapping[TopicPartition, list[SourceRecord]], flush_id: str
    ) -> dict[str, int]:
        """Every topic's rows to every sink, touchpoints first (what an agent waits to see)."""
        by_topic: dict[str, list[SourceRecord]] = defaultdict(list)
        for tp, records in sorted(
            batch.items(), key=lambda kv: (kv[0].topic != RESOLVED, kv[0].topic, kv[0].partition)
        ):
            by_topic[tp.topic].extend(records)
        written: dict[str, int] = {}
        for topic, records in by_topic.items():
            unseen: dict[tuple[str, str], SourceRecord] = {}
            if topic == RESOLVED:
                unseen = self.dedup.unseen(records)
                unseen = {k: r for k, r in unseen.items() if not self.erasures.covers(r)}
                records = list(unseen.values())
            rejected: list[rows.Rejected] = []
            records = self._opened(topic, records, rejected)
            for table, arrow in tables_for(topic, records, rejected, self.precedence).items():
                # one token per (table, source topic, flush): two topics may feed one table
                for sink in self.sinks:
                    sink.write(table, arrow, f"{table}:{topic}:{flush_id}")
                written[table] = written.get(table, 0) + arrow.num_rows
            if topic == RESOLVED:
                self.dedup.remember(list(unseen), flush_id)
        # after this flush's rows: the erasure must also remove what just arrived
        for tenant, people, at_us in self.erasures.found_in(by_topic.get(CUSTOMERS, [])):
            for sink in self.sinks:
                sink.erase(tenant, people, at_us)
        return written

    def _opened(
        self, topic: str, records: list[SourceRecord], rejected: list[rows.Rejected]
    ) -> list[SourceRecord]:
        if self.opener is None:
            return records
        if topic == RESOLVED:
            return self.opener.resolved(records, rejected)
        if topic == CUSTOMERS:
            return self.opener.customers(records, rejected)
        return records

    def _count(
        self,
        flush: Flush,
        batch: Mapping[TopicPartition, list[SourceRecord]],
        written: dict[str, int],
        seconds: float,
    ) -> None:
        self.stats.flushes += 1
        self.stats.records += sum(map(len, batch.values()))
        self.stats.rows += sum(written.values())
        self.stats.last_flush_at, self.stats.last_flush_s = time.time(), seconds
        for table, n in written.items():
            self.stats.by_table[table] += n
        if self.on_flush is not None:
            self.on_flush(flush, written)


def _source(record: Any) -> SourceRecord:
    return SourceRecord(
        record.topic, record.partition, record.offset, record.key, record.value, record.timestamp
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
