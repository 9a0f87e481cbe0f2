"""Segment changes onto the ``segments`` topic, keyed by customer, each batch acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from events.contracts.segments import SegmentChanged
from events.topics import SEGMENTS


class KafkaSegmentPublisher:
    """``await publisher(changes)`` returns once the broker has every one (acks=all)."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                          enable_idempotence=True, linger_ms=5)  # fmt: skip

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __call__(self, changes: Sequence[SegmentChanged]) -> None:
        sent = [await self._producer.send(SEGMENTS, c.encode(), key=c.key) for c in changes]
        await asyncio.gather(*sent)
