"""How far a consumer group is behind: for health checks, heartbeats, tests and benchmarks."""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from projections.log import partitions_of

NOT_YET = 2**62  # the group has no coordinator or offsets yet: as far behind as can be


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Committed records in ``topics`` the group has not committed yet (read_committed ends)."""
    probe = LagProbe(bootstrap, group, topics)
    try:
        found = await probe.by_partition()
    finally:
        await probe.stop()
    return NOT_YET if found is None else sum(found.values())


class LagProbe:
    """A group's lag per partition, with its clients kept open between readings.

    A stage asks every few seconds (for its heartbeat and its lag gauges);
    connecting an admin client and a consumer each time would cost more than
    the reading.
    """

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.bootstrap, self.group, self.topics = bootstrap, group, topics
        self._admin: AIOKafkaAdminClient | None = None
        self._known: list[TopicPartition] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def by_partition(self) -> dict[TopicPartition, int] | None:
        """Records behind per partition; None while the group has no coordinator or offsets."""
        try:
            admin, consumer = await self._clients()
            committed = await admin.list_consumer_group_offsets(self.group)
            ends = dict(await consumer.end_offsets(await self._partitions()))
        except (KafkaError, OSError):
            await self.stop()  # reconnect on the next reading
            return None
        lag = {}
        for tp, end in ends.items():
            done = committed.get(tp)
            lag[tp] = max(end - (done.offset if done is not None and done.offset >= 0 else 0), 0)
        return lag

    async def by_topic(self) -> dict[str, int] | None:
        found = await self.by_partition()
        if found is None:
            return None
        totals: dict[str, int] = {}
        for tp, lag in found.items():
            totals[tp.topic] = totals.get(tp.topic, 0) + lag
        return totals

    async def _partitions(self) -> list[TopicPartition]:
        if self._known is None:
            self._known = await partitions_of(self.bootstrap, self.topics)
        return self._known

    async def stop(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if admin is not None:
            with contextlib.suppress(KafkaError, OSError, RuntimeError):
                await admin.close()
        if consumer is not None:
            with contextlib.suppress(KafkaError, OSError, RuntimeError):
                await consumer.stop()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, isolation_level="read_committed"
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer


async def commit_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commit ``group``'s offsets at the topics' current ends, before its first member starts:
    a new worker group (a benchmark's, a test's) then reads only what is published next."""
    partitions = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, isolation_level="read_committed")  # fmt: skip
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()
