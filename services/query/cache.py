"""Recently read customers, kept in memory and dropped as soon as the projector writes them.

An agent on a call reads one customer again and again: the timeline, a
channel chip, the next page, a refresh. Each read was two chDB queries of
10-40 ms, queued behind every other agent's on the one chDB session. The
projection service runs the projector and the agent API in one process, so it
knows exactly when a customer's rows change: after every insert the projector
names the customers it touched (``drop``), and what was kept for them goes.

Kept per (tenant, id asked for): its ``Resolution`` (the survivor and every id
merged into it). Kept per (tenant, survivor): the ``Head`` of its timeline,
the newest entries (as the API writes them) and whether that is all of them.
``services.query.tiers`` answers a page from a head when the answer is exact.

A read that raced a write must not keep what it read: every drop moves
``epoch`` on, and ``keep_*`` refuses what was read under an older epoch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from projections.timeline.model import Head, Resolution

Key = tuple[str, str]  # (tenant, customer id as text)


class ReadCache:
    """Least recently used resolutions and timeline heads; thread-safe (a replay clears it)."""

    def __init__(self, max_customers: int = 1000) -> None:
        self.max_heads = max_customers
        self.max_resolutions = max_customers * 10
        self.epoch = 0
        self.hits = 0
        self.misses = 0
        # kind ("r": resolutions by id asked for, "h": heads by survivor) -> key -> (value, ids read)
        self._kept: dict[str, OrderedDict[Key, tuple[Any, tuple[str, ...]]]] = {
            "r": OrderedDict(),
            "h": OrderedDict(),
        }
        self._watchers: dict[Key, set[tuple[str, Key]]] = {}  # id -> what was kept reading it
        self._lock = threading.Lock()

    def resolution(self, tenant: str, customer_id: str) -> Resolution | None:
        found: Resolution | None = self._get("r", (tenant, customer_id))
        return found

    def head(self, tenant: str, survivor: str) -> Head | None:
        found: Head | None = self._get("h", (tenant, survivor))
        return found

    def keep_resolution(
        self, tenant: str, customer_id: str, resolution: Resolution, epoch: int
    ) -> None:
        self._put("r", (tenant, customer_id), resolution, (customer_id, *resolution.ids), epoch)

    def keep_head(self, tenant: str, resolution: Resolution, head: Head, epoch: int) -> None:
        self._put("h", (tenant, str(resolution.survivor)), head, resolution.ids, epoch)

    def drop(self, touched: Iterable[Key]) -> None:
        """The projector wrote rows of these customers: forget everything read through them."""
        with self._lock:
            self.epoch += 1
            for key in touched:
                for kind, kept in list(self._watchers.get(key, ())):
                    self._forget(kind, kept)

    def clear(self) -> None:
        """A replay swapped the tables: nothing kept can be trusted."""
        with self._lock:
            self.epoch += 1
            for kept in self._kept.values():
                kept.clear()
            self._watchers.clear()

    def __len__(self) -> int:
        return sum(map(len, self._kept.values()))

    def _get(self, kind: str, key: Key) -> Any:
        with self._lock:
            kept = self._kept[kind]
            found = kept.get(key)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            kept.move_to_end(key)
            return found[0]

    def _put(self, kind: str, key: Key, value: Any, ids: tuple[str, ...], epoch: int) -> None:
        with self._lock:
            if epoch != self.epoch:  # a write landed while this was read: it may be stale
                return
            self._forget(kind, key)
            kept = self._kept[kind]
            kept[key] = (value, ids)
            for customer_id in ids:
                self._watchers.setdefault((key[0], customer_id), set()).add((kind, key))
            limit = self.max_resolutions if kind == "r" else self.max_heads
            while len(kept) > limit:
                self._forget(kind, next(iter(kept)))

    def _forget(self, kind: str, key: Key) -> None:
        found = self._kept[kind].pop(key, None)
        if found is None:
            return
        for customer_id in found[1]:
            watching = self._watchers.get((key[0], customer_id))
            if watching is not None:
                watching.discard((kind, key))
                if not watching:
                    del self._watchers[(key[0], customer_id)]
