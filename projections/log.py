"""Reading the log's shape through aiokafka's public API: a topic's partitions and their ends.

The projector and a replay need them before they consume; the stages' lag
probes use the same readings (``services.kafka.lag``).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def partitions_of(
    bootstrap: str, topics: list[str], wait_s: float = 10.0
) -> list[TopicPartition]:
    """Every partition of ``topics``; waits a little for a topic being created, then says so."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            described = {t["topic"]: t for t in await admin.describe_topics(topics)}
            missing = [t for t in topics if not described.get(t, {}).get("partitions")]
            if not missing:
                return [
                    TopicPartition(topic, p["partition"])
                    for topic in topics
                    for p in sorted(described[topic]["partitions"], key=lambda p: p["partition"])
                ]
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"topic {missing[0]!r} does not exist "
                    "(run `touchline kafka start` / ensure topics)"
                )
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    """Every partition's stable end (what a read_committed reader can reach)."""
    partitions = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()
