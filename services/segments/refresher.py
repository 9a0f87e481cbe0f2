"""Membership kept current: every segment re-evaluated on a schedule and soon after the
projector writes rows about a tenant's customers, each entry and exit published on
``segments`` with its reason.

"Soon after" is debounced (``TOUCHLINE_SEGMENTS_DEBOUNCE_MS``): a burst of flushes for a
tenant makes one refresh of that tenant's segments, not one each. A refresh is a full
evaluation of each segment (``projections.segments.evaluate``); what changed is the
difference from the members the refresher holds (loaded from ``segment_members`` at
start). For a rule it also holds each customer's condition values from the last
refresh, so a change names the condition that flipped; after a restart those are
unknown until the next refresh, and the first change says so. Time windows ("in the
last 30 days") move on their own: the schedule (``TOUCHLINE_SEGMENTS_REFRESH_S``) is
what catches a customer ageing out of one without any new event.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from aiokafka.errors import KafkaError

from events.contracts.segments import SegmentChanged
from projections.analyst import AnalystCatalog, AnalystQueryError, QueryLimits, load_catalog
from projections.segments.definitions import Segment, SqliteSegmentStore
from projections.segments.evaluate import DefinitionError, Evaluation, evaluate
from projections.store import ProjectionStore, ProjectionStoreError

log = logging.getLogger(__name__)
Publish = Callable[[Sequence[SegmentChanged]], Awaitable[None]]
#: the projected tables whose rows can change a segment's members
TRIGGERS = frozenset({"touchpoints", "customers", "customer_aliases", "profile_fields",
                      "engagement_scores", "rfm"})  # fmt: skip


@dataclass
class Membership:
    version: int
    members: set[str]
    values: dict[str, tuple[bool, ...]] = field(default_factory=dict)


class SegmentRefresher:
    """The one writer of membership: refreshes run one at a time, on the event loop."""

    def __init__(self, store: ProjectionStore, segments: SqliteSegmentStore, publish: Publish,
                 limits: QueryLimits, every_s: float = 60.0, debounce_s: float = 1.0) -> None:  # fmt: skip
        self.store, self.segments, self.publish, self.limits = store, segments, publish, limits
        self.every_s, self.debounce_s = every_s, debounce_s
        self.state: dict[str, Membership] = {}
        self._pending: set[str] = set()
        self._poked = asyncio.Event()
        self._lock = asyncio.Lock()
        self._catalog: AnalystCatalog | None = None
        self.refreshes = 0

    def poke(self, tenants: Iterable[str]) -> None:
        """These tenants' data changed: refresh their segments after the debounce."""
        self._pending.update(tenants)
        self._poked.set()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._poked.wait(), self.every_s)
                await asyncio.sleep(self.debounce_s)
                tenants: set[str] | None = set(self._pending)
            except TimeoutError:
                tenants = None  # the schedule: every tenant
            self._poked.clear()
            self._pending.difference_update(tenants or set())
            try:
                await self.refresh(tenants)
            except (ProjectionStoreError, KafkaError) as exc:  # down: the next round retries
                log.error("segment refresh failed: %s", exc)

    async def refresh(self, tenants: set[str] | None = None) -> list[SegmentChanged]:
        """Refresh the segments of ``tenants`` (all if None); the changes it published."""
        async with self._lock:
            changes: list[SegmentChanged] = []
            for segment in await asyncio.to_thread(self.segments.listed, None, True):
                if tenants is None or segment.tenant in tenants:
                    changes += await self._refresh_one(segment)
            self.refreshes += 1
            return changes

    async def _refresh_one(self, segment: Segment) -> list[SegmentChanged]:
        before = self.state.get(segment.segment_id)
        if before is None:
            before = await asyncio.to_thread(self._load, segment)
        if segment.deleted_at is not None:
            changes = [
                self._change(segment, c, "exited", "segment deleted", [])
                for c in sorted(before.members)
            ]
            await self.publish(changes)
            self.state.pop(segment.segment_id, None)
            await asyncio.to_thread(self.segments.forget, segment.segment_id)
            return changes
        started = time.monotonic()
        try:
            now = await asyncio.to_thread(self._evaluate, segment)
        except (AnalystQueryError, DefinitionError) as exc:
            await asyncio.to_thread(self.segments.refreshed, segment.segment_id, None, str(exc))
            return []
        changes = self._diff(segment, before, now)
        await self.publish(changes)
        self.state[segment.segment_id] = Membership(segment.version, now.members, now.values)
        await asyncio.to_thread(self.segments.refreshed, segment.segment_id, len(now.members))
        log.debug("segment %s: %d members, %d changes in %.3f s", segment.segment_id,
                  len(now.members), len(changes), time.monotonic() - started)  # fmt: skip
        return changes

    def _evaluate(self, segment: Segment) -> Evaluation:
        if self._catalog is None:
            self._catalog = load_catalog(self.store)
        return evaluate(self.store, segment.tenant, segment.kind, segment.definition,
                        datetime.now(UTC), self._catalog, self.limits)  # fmt: skip

    def _load(self, segment: Segment) -> Membership:
        rows = self.store.query_rows(
            "SELECT toString(customer_id) FROM segment_members FINAL WHERE tenant = {t:String} "
            "AND segment_id = {s:UUID} AND member", {"t": segment.tenant, "s": segment.segment_id})  # fmt: skip
        return Membership(segment.version, {str(r[0]) for r in rows})

    def _diff(self, segment: Segment, before: Membership, now: Evaluation) -> list[SegmentChanged]:
        changes = []
        for customer in sorted(now.members - before.members):
            changes.append(self._explained(segment, before, now, customer, "entered"))
        for customer in sorted(before.members - now.members):
            changes.append(self._explained(segment, before, now, customer, "exited"))
        return changes

    def _explained(self, segment: Segment, before: Membership, now: Evaluation, customer: str,
                   change: str) -> SegmentChanged:  # fmt: skip
        if segment.kind == "sql":
            return self._change(segment, customer, change, "sql refresh", [])
        if customer not in now.values:
            return self._change(
                segment, customer, change, "no longer a customer of record (merged or erased)", []
            )
        was = before.values.get(customer) if before.version == segment.version else None
        after = now.values[customer]
        conditions = [{**c, "before": None if was is None else was[i], "after": after[i]}
                      for i, c in enumerate(now.conditions)]  # fmt: skip
        return self._change(
            segment,
            customer,
            change,
            reason(conditions, before.version != segment.version),
            conditions,
        )

    def _change(self, segment: Segment, customer: str, change: str, why: str,
                conditions: list[dict[str, Any]]) -> SegmentChanged:  # fmt: skip
        return SegmentChanged(segment.tenant, segment.segment_id, segment.name, segment.version,
                              customer, change, why, conditions, time.time_ns() // 1_000_000,
                              str(uuid.uuid4()))  # fmt: skip


def reason(conditions: list[dict[str, Any]], revised: bool) -> str:
    """Which conditions changed, in words; or, when the earlier values are not known, which hold."""
    flipped = [c for c in conditions if c["before"] is not None and c["before"] != c["after"]]
    if flipped:
        return "; ".join(f"{c['path']} ({c['text']}) became {'true' if c['after'] else 'false'}"
                         for c in flipped)  # fmt: skip
    holding = ", ".join(f"{c['path']} ({c['text']}) is {'true' if c['after'] else 'false'}"
                        for c in conditions)  # fmt: skip
    return f"{'definition revised' if revised else 'first evaluation'}: {holding}"


class SegmentTrigger:
    """A projector sink: rows about a tenant's customers poke the refresher (from any thread)."""

    def __init__(self, refresher: SegmentRefresher, loop: asyncio.AbstractEventLoop) -> None:
        self.refresher, self.loop = refresher, loop

    def write(self, table: str, rows: pa.Table, token: str) -> None:
        if table in TRIGGERS and rows.num_rows:
            tenants = set(rows.column("tenant").to_pylist())
            self.loop.call_soon_threadsafe(self.refresher.poke, tenants)

    def erase(self, tenant: str, people: Sequence[str], at_us: int) -> None:
        self.loop.call_soon_threadsafe(self.refresher.poke, {tenant})
