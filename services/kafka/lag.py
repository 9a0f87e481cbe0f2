"""How far a consumer group is behind: for health checks, tests and benchmarks."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

NOT_YET = 2**62  # the group has no coordinator or offsets yet: as far behind as can be


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Committed records in ``topics`` the group has not committed yet (read_committed ends)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    except KafkaError:
        return NOT_YET
    finally:
        await admin.close()
    ends = await end_offsets(bootstrap, topics)
    lag = 0
    for tp, end in ends.items():
        done = committed.get(tp)
        lag += end - (done.offset if done is not None and done.offset >= 0 else 0)
    return lag


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    """Every partition's stable end (what a read_committed reader can reach)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in await consumer._client._wait_on_metadata(topic)
        ]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()
