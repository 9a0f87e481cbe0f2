"""Which tier answers an agent's read: the decision, made once.

A read goes to the first tier that can answer for certain: what the service
keeps in memory (recently read customers), then the serving index (while it
mirrors the store), then the ClickHouse store. A first page with nothing kept
fetches the customer's head and keeps it, so the agent's next chip, page or
refresh costs no read at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from events.timestamps import from_epoch_ms
from projections.timeline.keyset import Admits
from projections.timeline.model import (
    MISS,
    Head,
    HeadPage,
    Page,
    Resolution,
    TimelineQuery,
    _Miss,
)
from projections.timeline.port import TimelineReader
from services.query.cache import ReadCache

HEAD_ENTRIES = 100  # newest entries kept per recently read customer, from the store: two pages
INDEX_HEAD_ENTRIES = 51  # from the index: one default page, and one more that tells if another
# page follows (what the index does not hold is cheap to read from it later)


def page_from_head(head: Head, query: TimelineQuery) -> HeadPage | None:
    """The page the store would give, if the head holds it for certain; else None.

    The head is a prefix of the timeline in the keyset order, so the first
    ``limit + 1`` matches inside it are the first overall. Fewer matches are
    the whole answer only when the head is the whole timeline.
    """
    admits, limit, facts = Admits(query), query.limit, head.facts
    found: list[int] = []
    for i, fact in enumerate(facts):
        if not admits(fact):
            continue
        found.append(i)
        if len(found) > limit:
            last = facts[found[limit - 1]]
            return HeadPage(
                [head.texts[j] for j in found[:limit]],
                [facts[j] for j in found[:limit]],
                (from_epoch_ms(last[4]), last[0]),
            )
    if not head.complete:
        return None
    return HeadPage([head.texts[j] for j in found], [facts[j] for j in found], None)


class HeadTimelineReader(TimelineReader):
    """What the read cache keeps: resolutions, and heads to answer pages from."""

    def __init__(self, cache: ReadCache) -> None:
        self.cache = cache

    async def resolve(self, tenant: str, customer_id: uuid.UUID) -> Resolution | _Miss | None:
        found = self.cache.resolution(tenant, str(customer_id))
        return MISS if found is None else found

    async def page(self, tenant: str, resolution: Resolution, query: TimelineQuery) -> Page | _Miss:
        head = self.cache.head(tenant, str(resolution.survivor))
        page = None if head is None else page_from_head(head, query)
        return MISS if page is None else page

    async def head(self, tenant: str, resolution: Resolution, entries: int) -> Head | _Miss:
        found = self.cache.head(tenant, str(resolution.survivor))
        return MISS if found is None else found


class TieredReader(TimelineReader):
    """Memory, then the serving index (when given), then the store, which always answers."""

    def __init__(
        self, cache: ReadCache, store: TimelineReader, index: TimelineReader | None = None
    ) -> None:
        self.cache = cache
        self.kept = HeadTimelineReader(cache)
        self.store = store
        self.index = index
        self.below: Sequence[TimelineReader] = [t for t in (index, store) if t is not None]

    async def resolve(self, tenant: str, customer_id: uuid.UUID) -> Resolution | None:
        kept = await self.kept.resolve(tenant, customer_id)
        if not isinstance(kept, _Miss):
            return kept
        epoch = self.cache.epoch  # a write landing while this reads makes it not kept
        for tier in self.below:
            found = await tier.resolve(tenant, customer_id)
            if not isinstance(found, _Miss):
                if found is not None:
                    self.cache.keep_resolution(tenant, str(customer_id), found, epoch)
                return found
        raise AssertionError("the store's reader always answers")

    async def page(self, tenant: str, resolution: Resolution, query: TimelineQuery) -> Page:
        if query.first_page and self.cache.head(tenant, str(resolution.survivor)) is None:
            epoch = self.cache.epoch
            head = await self.head(tenant, resolution, HEAD_ENTRIES)
            self.cache.keep_head(tenant, resolution, head, epoch)
            page = page_from_head(head, query)
            if page is not None:
                return page
        for tier in (self.kept, *self.below):
            found = await tier.page(tenant, resolution, query)
            if not isinstance(found, _Miss):
                return found
        raise AssertionError("the store's reader always answers")

    async def head(self, tenant: str, resolution: Resolution, entries: int) -> Head:
        """From the index (a default page's worth, on the loop) or the store (``entries``)."""
        if self.index is not None:
            found = await self.index.head(tenant, resolution, INDEX_HEAD_ENTRIES)
            if not isinstance(found, _Miss):
                return found
        head = await self.store.head(tenant, resolution, entries)
        assert not isinstance(head, _Miss)
        return head
