"""Making each partition's feed to a stage contiguous, whatever faust drops.

faust can lose a record while the consumer group rebalances: its fetch loop
hands a record to the stream with ``wait_first(callback(message),
suspend_flow.wait())``; when a rebalance suspends the flow first, the
delivery is cancelled but the record's offset is already counted as read
(``faust/transport/consumer.py``, ``_drain_messages``). Two symptoms follow,
both seen in our SIGKILL-and-restart test: one event silently missing from a
customer's state (the commit moved past the hole), or a consumer whose
committed offset never advances again (a hole faust cannot close).

The guard below knows where each stage really is (the stage stores its own
position durably), reads any skipped range straight from Kafka with a plain
consumer, and afterwards records the whole range as acknowledged in faust's
bookkeeping so that faust's commit moves on (``services.compat.faust.acknowledge``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.compat.faust import acknowledge
from services.platform.metrics import StageMetrics
from services.streams.log_gaps import LogGaps

log = logging.getLogger(__name__)


class Fed(NamedTuple):
    """One record as a stage receives it; ``carrier`` is the faust event (or a sibling's)."""

    partition: int
    offset: int
    value: bytes
    key: bytes | None
    carrier: Any


class RangeReader:
    """Reads offset ranges directly (no group), with the isolation level of the stage's input."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.group = group  # the stages' consumer group, whose committed offsets are the start
        self._starts: dict[tuple[str, int], int] | None = None  # read once, at the first batch
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def read(self, topic: str, ranges: dict[int, tuple[int, int]]) -> dict[int, list[Any]]:
        """Per partition, the records with ``start <= offset < end``, all partitions in one fetch.

        Transaction markers and aborted records leave holes in what comes back; that is fine.
        """
        if not ranges:
            return {}
        async with self._lock:
            consumer = await self._started()
            tps = {partition: TopicPartition(topic, partition) for partition in ranges}
            consumer.assign(list(tps.values()))
            for partition, (start, _) in ranges.items():
                consumer.seek(tps[partition], start)
            found: dict[int, list[Any]] = {partition: [] for partition in ranges}
            pending = dict(tps)
            while pending:
                batch = await consumer.getmany(*pending.values(), timeout_ms=200)
                for partition, tp in list(pending.items()):
                    start, end = ranges[partition]
                    records = batch.get(tp, [])
                    found[partition].extend(r for r in records if start <= r.offset < end)
                    if await consumer.position(tp) >= end:
                        del pending[partition]
                    elif not records:
                        ends = await consumer.end_offsets([tp])
                        if ends[tp] <= await consumer.position(tp):
                            del pending[partition]  # the range ends past the stable end
            # An assigned consumer keeps fetching in the background (every 20 ms,
            # at once when data arrives); a profile showed such fetches in the
            # worker's main thread. Nothing stays assigned between reads.
            consumer.unsubscribe()
            return found

    async def group_start(self, topic: str, partition: int) -> int:
        """Where the group starts reading a partition: its committed offset, else the log's start.

        A stage with no position yet still checks its first batch against this,
        so a record faust drops while the group first settles is not lost.
        """
        if self._starts is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                committed = await admin.list_consumer_group_offsets(self.group)
            finally:
                await admin.close()
            self._starts = {
                (tp.topic, tp.partition): m.offset for tp, m in committed.items() if m.offset >= 0
            }
        found = self._starts.get((topic, partition))
        if found is not None:
            return found
        async with self._lock:
            consumer = await self._started()
            tp = TopicPartition(topic, partition)
            return int((await consumer.beginning_offsets([tp]))[tp])

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                isolation_level="read_committed",
                enable_auto_commit=False,
                group_id=None,
                fetch_max_wait_ms=20,  # a range of markers only returns nothing: do not linger
            )
            await self._consumer.start()
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class ContiguousFeed:
    """Fills the holes in a batch before a stage sees it, and settles faust's commit after.

    ``position(partition)`` is the stage's durable "next offset to apply", or
    None when it has never applied anything from that partition; then the
    group's committed offset (or the log's start) stands in for it, so a new
    store joining a group starts where the group is, and still sees a gap.
    """

    def __init__(
        self,
        topic: str,
        reader: RangeReader,
        position: Callable[[int], int | None],
        consumer: Callable[[], Any],
        gaps: LogGaps | None = None,
        metrics: StageMetrics | None = None,
    ) -> None:
        self.topic = topic
        self.metrics = metrics
        self.gaps = gaps  # offsets the consumer skipped as markers: holes that need no read
        if gaps is not None:
            gaps.watch(topic)
        self.reader = reader
        self.position = position
        self.consumer = consumer  # the faust consumer, looked up late (it exists once the app runs)
        self.repaired = 0
        self._since: dict[int, int] = {}

    async def complete(self, events: Sequence[Any]) -> list[Fed]:
        """The batch's records plus any the stage has not seen, below or between them, in offset order.

        faust can drop records anywhere in a batch, not only before its first
        one (a run showed three consecutive offsets missing between delivered
        ones). So every hole from the stage's position to the batch's last
        offset is read: one fetch per batch over all partitions with holes,
        covering each partition's first to last hole. Holes that are
        transaction markers (ingest writes in transactions) come back empty.
        """
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event)
        delivered: dict[int, list[Any]] = {}
        holes: dict[int, tuple[int, int]] = {}
        for partition, group in sorted(by_partition.items()):
            group.sort(key=lambda e: e.message.offset)
            expected = self.position(partition)
            if expected is None:  # nothing applied yet: start where the group started
                expected = await self.reader.group_start(self.topic, partition)
            self._since[partition] = expected
            delivered[partition] = group
            delivered_offsets = [e.message.offset for e in group]
            span = _holes_span(expected, delivered_offsets)
            if span is not None and not self._only_markers(partition, expected, delivered_offsets):
                holes[partition] = span
        missing = await self.reader.read(self.topic, holes)
        fed: list[Fed] = []
        for partition, group in delivered.items():
            offsets = {e.message.offset for e in group}
            found = [r for r in missing.get(partition, []) if r.offset not in offsets]
            if found:
                start, end = holes[partition]
                log.warning(
                    "%s-%d: faust skipped %d record(s) in [%d, %d); read them directly",
                    self.topic,
                    partition,
                    len(found),
                    start,
                    end,
                )
                self.repaired += len(found)
                if self.metrics is not None:
                    self.metrics.repaired.labels(self.topic).inc(len(found))
            items = [Fed(partition, r.offset, r.value, r.key, group[0]) for r in found]
            items += [
                Fed(partition, e.message.offset, e.message.value, e.message.key, e) for e in group
            ]
            fed.extend(sorted(items, key=lambda f: f.offset))
        return fed

    def _only_markers(self, partition: int, expected: int, offsets: list[int]) -> bool:
        if self.gaps is None:
            return False
        self.gaps.forget_below(self.topic, partition, expected)
        return self.gaps.explain(self.topic, partition, _missing(expected, offsets))

    def positions(self, fed: Sequence[Fed]) -> dict[int, int]:
        """Each partition's position once ``fed`` is applied (next offset to apply; never back)."""
        ends: dict[int, int] = {}
        for record in fed:
            ends[record.partition] = max(
                ends.get(record.partition, -1),
                record.offset + 1,
                self._since.get(record.partition, 0),
            )
        return ends

    def settle(self, fed: Sequence[Fed]) -> None:
        """Mark every offset the stage has applied, from faust's commit on, as acknowledged.

        Everything below the stage's durable position was applied (before a
        restart, perhaps), and everything from there to the batch's end was
        in ``fed``. So faust's committed offset can always advance to the
        batch's end, whatever faust itself failed to acknowledge. Call only
        once the batch's effects are durable: faust may commit at once.
        """
        lowest: dict[int, int] = {}
        for record in fed:
            lowest[record.partition] = min(
                lowest.get(record.partition, record.offset), record.offset
            )
        ranges = {
            partition: (lowest[partition], self._since.get(partition, lowest[partition]), end)
            for partition, end in self.positions(fed).items()
        }
        acknowledge(self.consumer(), self.topic, ranges)


def _missing(expected: int, offsets: list[int]) -> list[int]:
    """The offsets from ``expected`` to the last of ``offsets`` (sorted) that are not among them."""
    present = set(offsets)
    return [o for o in range(expected, offsets[-1]) if o not in present] if offsets else []


def _holes_span(expected: int, offsets: list[int]) -> tuple[int, int] | None:
    """From the first to the last offset missing in ``expected, ..., offsets[-1]``, if any.

    ``offsets`` are sorted; offsets below ``expected`` (already applied, redelivered) are ignored.
    """
    first = last = None
    at = expected
    for offset in offsets:
        if offset > at:
            first = at if first is None else first
            last = offset
        at = max(at, offset + 1)
    return None if first is None or last is None else (first, last)
