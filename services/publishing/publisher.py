"""An async publisher for services that write straight to Kafka.

It validates with the same ``EventIntake`` as the HTTP API, so an event it
accepts is exactly what ingest would have written. Batching is Kafka's own
(linger and batch size, lz4 or zstd compression) on an idempotent producer
with acks=all.

Unlike the HTTP API, ``publish_many`` is not transactional: if the broker
fails mid-batch, part of it may be written. Every event gets its event_id
before the first send, so retrying the same batch is safe: later stages
deduplicate by event_id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from events.attributes import AttributeRules
from events.intake import EventIntake, PreparedEvent
from events.privacy.protector import EnvelopeProtector
from events.problems import EventRejected, Problem
from events.records import record_of
from events.timestamps import now_utc
from events.topics import TOUCHPOINTS
from services.kafka.batch_send import send_batched
from services.platform.settings import Settings
from services.privacy.wiring import open_sealer

Compression = Literal["lz4", "zstd", "gzip"] | None


class Publisher:
    def __init__(
        self,
        bootstrap: str,
        tenant: str,
        *,
        default_region: str = "US",
        topic: str = TOUCHPOINTS,
        linger_ms: int = 5,
        max_batch_size: int = 256 * 1024,
        compression: Compression = "lz4",
        protector: EnvelopeProtector | None = None,
        settings: Settings | None = None,
        attributes: AttributeRules | None = None,
    ) -> None:
        """Personal values are sealed as ingest seals them, with the deployment's keys.

        ``protector`` given: that one; otherwise the one ``settings`` (default: the
        environment's) opens, which is none only when ``TOUCHLINE_ENCRYPT_PII=off``. A
        publisher that wrote clear values by default would put them in the log forever.
        With ``attributes``, profile attributes are checked against the tenant's declarations
        as ingest checks them.
        """
        self.tenant = tenant
        self.topic = topic
        if protector is None:
            protector = open_sealer(settings or Settings.from_env())
        self.intake = EventIntake(default_region, protector=protector, attributes=attributes)
        self._producer_args: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_size,
            "compression_type": compression,
        }
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**self._producer_args)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, event: Mapping[str, Any]) -> str:
        """Publish one event and wait for Kafka's acknowledgement; return its event_id."""
        return (await self.publish_many([event]))[0]

    async def publish_many(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Validate all events first (raising ``EventRejected`` naming the first bad one), then send all."""
        prepared = self.prepare(events)
        await self.send_prepared(prepared)
        return [p.event_id for p in prepared]

    def prepare(self, events: Sequence[Mapping[str, Any]]) -> list[PreparedEvent]:
        """Judge every event, giving each an event_id first so retries are idempotent."""
        with_ids: list[object] = [
            e if "event_id" in e else {**e, "event_id": str(uuid.uuid4())} for e in events
        ]
        out: list[PreparedEvent] = []
        for index, result in enumerate(self.intake.prepare_batch(with_ids, self.tenant, now_utc())):
            if isinstance(result, list):
                raise EventRejected(result, index)
            if result.tenant != self.tenant:
                problem = Problem("/tenant", f"this publisher publishes for {self.tenant!r} only")
                raise EventRejected([problem], index)
            out.append(result)
        return out

    async def send_prepared(self, prepared: Sequence[PreparedEvent]) -> None:
        if self._producer is None:
            raise RuntimeError("Publisher.start() was not called")
        futures = await send_batched(self._producer, self.topic, [record_of(p) for p in prepared])
        await asyncio.gather(*futures)
