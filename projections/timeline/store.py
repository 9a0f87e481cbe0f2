"""The ClickHouse store as a timeline reader: the source of truth, read on a thread.

In embedded chDB every query waits its turn on the one session (about 10 ms
each), so the agent API asks it only when the faster tiers cannot answer.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson

from events.timestamps import epoch_ms
from projections import reads
from projections.store import ProjectionStore
from projections.timeline.model import Fact, Head, Resolution, TimelinePage, TimelineQuery
from projections.timeline.port import TimelineReader


class StoreTimelineReader(TimelineReader):
    def __init__(self, store: ProjectionStore, encode: Any = orjson.dumps) -> None:
        """``encode`` writes an entry as the API does (the head's texts)."""
        self.store, self.encode = store, encode

    async def resolve(self, tenant: str, customer_id: uuid.UUID) -> Resolution | None:
        return await asyncio.to_thread(reads.resolve, self.store, tenant, customer_id)

    async def page(self, tenant: str, resolution: Resolution, query: TimelineQuery) -> TimelinePage:
        return await asyncio.to_thread(reads.timeline, self.store, tenant, resolution.ids, query)

    async def head(self, tenant: str, resolution: Resolution, entries: int) -> Head:
        newest = await self.page(tenant, resolution, TimelineQuery(limit=entries))
        return Head(
            [self.encode(e) for e in newest.entries],
            [fact_of(e) for e in newest.entries],
            newest.next_after is None,
        )


def fact_of(entry: dict[str, Any]) -> Fact:
    return (
        entry["event_id"],
        entry["channel"],
        entry["type"],
        int(entry["schema_version"]),
        epoch_ms(entry["occurred_at"]),
    )
