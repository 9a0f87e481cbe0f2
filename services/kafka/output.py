"""Where the stream stages write: an idempotent, acks=all producer shared by the stages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from events.contracts.deadletter import DeadLetter
from events.records import Record
from events.topics import DEADLETTER
from services.kafka.batch_send import send_batched
from services.platform.metrics import StageMetrics


class OutputWriter:
    """Writes batches and waits for Kafka's acknowledgement before the caller moves on.

    Stages write their outputs *before* their input offsets are committed, so
    a crash in between repeats outputs (deduplicated downstream by event id)
    and never loses one.
    """

    def __init__(self, bootstrap: str, metrics: StageMetrics | None = None) -> None:
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.dead_letters = 0  # written since start, for the heartbeat
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        async with self._starting:
            if self._producer is None:
                self._producer = await self._new_producer()

    async def _new_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_batch_size=512 * 1024,
            compression_type="lz4",
        )
        await producer.start()
        return producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def write(self, topic: str, records: Sequence[Record]) -> None:
        await self.write_all([(topic, records)])

    async def write_all(self, writes: Sequence[tuple[str, Sequence[Record]]]) -> None:
        """Queue every topic's records in the order given, then wait for all acknowledgements.

        Records for one partition keep their order (one idempotent producer),
        and every batch shares the broker round trips.
        """
        if not any(records for _, records in writes):
            return
        if self._producer is None:
            await self.start()  # agents may run before the app's start-up task has
        assert self._producer is not None
        futures = []
        for topic, records in writes:
            if records:
                futures += await send_batched(self._producer, topic, records)
        await asyncio.gather(*futures)
        for topic, records in writes:
            if topic == DEADLETTER and records:
                self._count_dead(records)

    def _count_dead(self, records: Sequence[Record]) -> None:
        self.dead_letters += len(records)
        if self.metrics is None:
            return
        for record in records:
            letter = DeadLetter.decode(record.value)
            self.metrics.deadletters.labels(letter.stage, letter.code).inc()
