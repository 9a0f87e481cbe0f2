"""What the agent API's routes use, built once by the composition root (tests build their own)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from events.catalog import Catalog, load_catalog
from projections import reads
from projections.serving_index import ServingIndex
from projections.store import ProjectionStore, ProjectionStoreError
from projections.timeline.index import IndexTimelineReader
from projections.timeline.model import Resolution
from projections.timeline.store import StoreTimelineReader
from services.auth.keys import ApiKey, KeyStore
from services.platform.heartbeats import HealthView
from services.query.audit import AuditLog
from services.query.cache import ReadCache
from services.query.changes import ChangeFeed
from services.query.entries import json_bytes, jsonable
from services.query.errors import QueryError, unavailable
from services.query.masking import Masker
from services.query.tiers import TieredReader

T = TypeVar("T")


@dataclass
class QueryDeps:
    store: ProjectionStore
    keys: KeyStore
    audit: AuditLog
    region: str = "US"
    catalog: Catalog = field(default_factory=load_catalog)
    stream_poll_s: float = 15.0  # a stream reads the store when told of a write; this at the latest
    cache: ReadCache = field(default_factory=ReadCache)
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    index: ServingIndex | None = None  # used for resolutions and timelines while it is ready
    #: the in-process projector's freshness (None until it has one): no store read for it
    freshness_of: Callable[[], Mapping[str, Any] | None] | None = None
    health: HealthView | None = None  # the processing stages, as their heartbeats tell
    registry: CollectorRegistry | None = None  # what /metrics shows
    reader: TieredReader = field(init=False)
    _freshness: tuple[float, dict[str, Any]] = (0.0, {})
    _refreshing: asyncio.Task[dict[str, Any]] | None = None
    _maskers: dict[str, Masker] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index = IndexTimelineReader(self.index) if self.index is not None else None
        self.reader = TieredReader(self.cache, StoreTimelineReader(self.store, json_bytes), index)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store read on a thread (search, profile, stream), its failure a 503."""
        try:
            return await asyncio.to_thread(fn, self.store, *args, **kwargs)
        except ProjectionStoreError as exc:
            raise unavailable(exc) from None

    async def resolve(self, key: ApiKey, customer_id: uuid.UUID) -> Resolution:
        found = await self.reader.resolve(key.tenant, customer_id)
        if found is None:
            raise QueryError(404, "not_found", f"no customer {customer_id} in tenant {key.tenant}")
        return found

    def masker(self, role: str) -> Masker:
        """One masker per role for the process: it remembers which types carry personal data."""
        found = self._maskers.get(role)
        if found is None:
            found = self._maskers[role] = Masker(self.catalog, role)
        return found

    async def freshness(self) -> dict[str, Any]:
        """The projections' lag, read at most about once a second by one request at a time.

        Every request that found the value stale used to read it itself: at
        50 concurrent agents, 50 store reads queued at once, every second.
        Now one refresh runs and the others await it (or, once there is a
        value, answer with the one a second old).
        """
        at, value = self._freshness
        if time.monotonic() - at <= 1.0:
            return value
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh_freshness())
        return value if at else await asyncio.shield(self._refreshing)

    async def _refresh_freshness(self) -> dict[str, Any]:
        try:
            known = self.freshness_of() if self.freshness_of is not None else None
            value: dict[str, Any] = jsonable(
                known if known is not None else await self.read(reads.freshness)
            )
        except QueryError:
            if not self._freshness[0]:
                raise  # nothing to answer with: the request that waited gets the 503
            return self._freshness[1]  # the last value stays; the next request tries again
        self._freshness = (time.monotonic(), value)
        return value
