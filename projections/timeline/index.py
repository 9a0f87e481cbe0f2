"""The serving index as a timeline reader, while it mirrors the store (otherwise it misses).

Resolutions and heads are a few point reads of SQLite: they run on the event
loop itself (a thread hop and the GIL hand-over cost more than the read);
filtered or later pages run on a thread.
"""

from __future__ import annotations

import asyncio
import uuid

from projections.serving_index import ServingIndex
from projections.timeline.model import MISS, Head, Resolution, TimelinePage, TimelineQuery, _Miss
from projections.timeline.port import TimelineReader


class IndexTimelineReader(TimelineReader):
    def __init__(self, index: ServingIndex) -> None:
        self.index = index

    async def resolve(self, tenant: str, customer_id: uuid.UUID) -> Resolution | _Miss | None:
        return self.index.resolve(tenant, customer_id) if self.index.ready else MISS

    async def page(
        self, tenant: str, resolution: Resolution, query: TimelineQuery
    ) -> TimelinePage | _Miss:
        if not self.index.ready:
            return MISS
        return await asyncio.to_thread(self.index.timeline, tenant, resolution.ids, query)

    async def head(self, tenant: str, resolution: Resolution, entries: int) -> Head | _Miss:
        return self.index.head(tenant, resolution.ids, entries) if self.index.ready else MISS
