"""The timeline contract, run against every reader: store, index, kept heads, and the tiers."""

from __future__ import annotations

import asyncio

import pytest

from projections.timeline.index import IndexTimelineReader
from projections.timeline.port import TimelineReader
from projections.timeline.store import StoreTimelineReader
from services.query.cache import ReadCache
from services.query.entries import json_bytes
from services.query.tiers import HeadTimelineReader, TieredReader
from tests.integration.timeline_contract import (  # noqa: F401 (the fixture)
    TimelineReaderContract,
    World,
    world_fixture,
)

pytestmark = pytest.mark.integration


class TestStoreReader(TimelineReaderContract):
    def make_reader(self, world: World) -> TimelineReader:
        return StoreTimelineReader(world.store, json_bytes)


class TestIndexReader(TimelineReaderContract):
    def make_reader(self, world: World) -> TimelineReader:
        return IndexTimelineReader(world.index)


class TestKeptHeads(TimelineReaderContract):
    """Heads kept from the store (a page's worth for some customers, everything for others):
    what they hold for certain is answered, the rest is a MISS."""

    may_miss = True

    def make_reader(self, world: World) -> TimelineReader:
        cache, store = ReadCache(), StoreTimelineReader(world.store, json_bytes)
        for n, person in enumerate(world.people):
            resolution = world.resolution("acme", person)
            assert resolution is not None
            head = asyncio.run(store.head("acme", resolution, 40 if n % 2 else 500))
            cache.keep_head("acme", resolution, head, cache.epoch)
            cache.keep_resolution("acme", person, resolution, cache.epoch)
        return HeadTimelineReader(cache)


class TestTieredReaderWithTheIndex(TimelineReaderContract):
    def make_reader(self, world: World) -> TimelineReader:
        store = StoreTimelineReader(world.store, json_bytes)
        return TieredReader(ReadCache(), store, IndexTimelineReader(world.index))


class TestTieredReaderWithoutTheIndex(TimelineReaderContract):
    def make_reader(self, world: World) -> TimelineReader:
        return TieredReader(ReadCache(), StoreTimelineReader(world.store, json_bytes))
