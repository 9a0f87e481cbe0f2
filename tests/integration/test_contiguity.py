"""The contiguity guard over a real broker: whatever faust fails to deliver, a stage sees it all.

faust's deliveries are stood in for by plain objects with the same
``message`` attributes; the records the guard reads back come from Kafka.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.types import TP

from services.compat.aiokafka import install_gap_noting, uninstall_gap_noting
from services.streams.contiguity import ContiguousFeed, RangeReader
from services.streams.log_gaps import LogGaps

pytestmark = pytest.mark.integration


async def _topic_with_markers(bootstrap: str) -> str:
    """Partition 0: ten plain records. Partition 1: two transactions of three (offsets 3 and 7 are markers)."""
    topic = f"contiguity-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await plain.start()
    try:
        for i in range(10):
            await plain.send_and_wait(topic, f"p0-{i}".encode(), partition=0)
    finally:
        await plain.stop()
    transactional = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic)
    await transactional.start()
    try:
        for t in range(2):
            async with transactional.transaction():
                for i in range(3):
                    await transactional.send(topic, f"p1-{t}-{i}".encode(), partition=1)
    finally:
        await transactional.stop()
    return topic


def _delivered(partition: int, offsets: list[int]) -> list[Any]:
    return [SimpleNamespace(message=SimpleNamespace(partition=partition, offset=o,
                                                    value=b"delivered", key=None))
            for o in offsets]  # fmt: skip


def _faust_consumer(topic: str) -> Any:
    return SimpleNamespace(
        _committed_offset={TP(topic, 0): None, TP(topic, 1): None},
        _acked_index=defaultdict(set),
        _acked=defaultdict(list),
    )


def test_holes_below_and_inside_a_batch_are_read_back(kafka_bootstrap: str) -> None:
    async def run() -> None:
        topic = await _topic_with_markers(kafka_bootstrap)
        reader = RangeReader(kafka_bootstrap, f"contiguity-{uuid.uuid4().hex[:8]}")
        consumer = _faust_consumer(topic)
        feed = ContiguousFeed(topic, reader, {0: 2, 1: 0}.get, lambda: consumer)
        try:
            # faust dropped 2, 3, 4 and 8 of partition 0, and 4, 5 of partition 1
            fed = await feed.complete(_delivered(0, [5, 6, 7, 9]) + _delivered(1, [0, 1, 2, 6]))
            # nothing stays assigned between reads, and the next read still works
            assert not reader._consumer or not reader._consumer.assignment()
            again = await reader.read(topic, {0: (0, 2)})
            assert [r.offset for r in again[0]] == [0, 1]
        finally:
            await reader.stop()
        by_partition: dict[int, list[int]] = defaultdict(list)
        for record in fed:
            by_partition[record.partition].append(record.offset)
        assert by_partition == {0: [2, 3, 4, 5, 6, 7, 8, 9], 1: [0, 1, 2, 4, 5, 6]}
        read_back = {(r.partition, r.offset): r.value for r in fed if r.value != b"delivered"}
        assert read_back == {(0, 2): b"p0-2", (0, 3): b"p0-3", (0, 4): b"p0-4", (0, 8): b"p0-8",
                             (1, 4): b"p1-1-0", (1, 5): b"p1-1-1"}  # fmt: skip
        assert feed.repaired == 6
        assert feed.positions(fed) == {0: 10, 1: 7}
        feed.settle(fed)
        assert sorted(consumer._acked[TP(topic, 0)]) == list(range(2, 10))
        assert sorted(consumer._acked[TP(topic, 1)]) == list(range(0, 7))

    asyncio.run(run())


def test_a_complete_batch_reads_nothing(kafka_bootstrap: str) -> None:
    async def run() -> None:
        topic = await _topic_with_markers(kafka_bootstrap)
        reader = RangeReader(kafka_bootstrap, f"contiguity-{uuid.uuid4().hex[:8]}")
        feed = ContiguousFeed(topic, reader, {0: 0, 1: 4}.get, lambda: None)
        try:
            # the gap at partition 1's offset 3 lies below its position: a marker already passed
            fed = await feed.complete(_delivered(0, list(range(10))) + _delivered(1, [4, 5, 6]))
        finally:
            await reader.stop()
        assert [(r.partition, r.offset) for r in fed] == [(0, o) for o in range(10)] + [
            (1, 4), (1, 5), (1, 6)]  # fmt: skip
        assert feed.repaired == 0 and reader._consumer is None  # no fetch was needed

    asyncio.run(run())


def test_markers_the_consumer_passed_over_need_no_read(kafka_bootstrap: str) -> None:
    """aiokafka notes the markers it skips; a hole of markers only is not fetched, a dropped record is."""
    GAPS = LogGaps()
    install_gap_noting(GAPS)  # what the worker does as it starts

    async def consume(topic: str) -> list[int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None,
                                    isolation_level="read_committed", auto_offset_reset="earliest")  # fmt: skip
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 1)])
            got: list[int] = []
            while len(got) < 6:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += [r.offset for r in records]
            return got
        finally:
            await consumer.stop()

    async def run() -> None:
        topic = await _topic_with_markers(kafka_bootstrap)
        GAPS.watch(topic)
        assert await consume(topic) == [0, 1, 2, 4, 5, 6]
        assert GAPS.explain(topic, 1, [3]) and not GAPS.explain(topic, 1, [3, 4])
        reader = RangeReader(kafka_bootstrap, f"contiguity-{uuid.uuid4().hex[:8]}")
        feed = ContiguousFeed(topic, reader, {1: 0}.get, lambda: None, GAPS)
        try:
            fed = await feed.complete(_delivered(1, [0, 1, 2, 4, 5, 6]))
            assert reader._consumer is None  # the marker at 3 needed no fetch
            fed = await feed.complete(_delivered(1, [0, 1, 2, 4, 6]))  # faust dropped 5
        finally:
            await reader.stop()
        assert [(r.offset, r.value) for r in fed if r.value != b"delivered"] == [(5, b"p1-1-1")]
        assert feed.repaired == 1

    try:
        asyncio.run(run())
    finally:
        uninstall_gap_noting()
