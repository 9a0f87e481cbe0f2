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
``page_from_head`` answers a page from a head when the answer is exact, and
says so when it is not.

A read that raced a write must not keep what it read: every drop moves
``epoch`` on, and ``keep_*`` refuses what was read under an older epoch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.timestamps import epoch_ms, from_epoch_ms
from projections.reads import Resolution
from projections.serving_index import Fact

Key = tuple[str, str]  # (tenant, customer id as text)


@dataclass(frozen=True)
class Head:
    """A survivor's newest timeline entries, newest first; ``complete``: there are no others.

    Each entry is kept as the JSON the API writes for it (``texts``, unmasked)
    with its ``facts`` beside it, not as a dict: a first page is then written
    without parsing payloads or formatting times, and a thousand kept heads
    are a hundred thousand byte strings and untracked tuples, which the
    garbage collector does not walk, instead of half a million dicts it did.
    """

    texts: list[bytes]
    facts: list[Fact]
    complete: bool


@dataclass(frozen=True)
class HeadPage:
    """A page answered from a head: its entries' JSON and facts, and the cursor key."""

    texts: list[bytes]
    facts: list[Fact]
    next_after: tuple[datetime, str] | None


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
            "r": OrderedDict(), "h": OrderedDict()}  # fmt: skip
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


def page_from_head(
    head: Head,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    channels: list[str] | None = None,
    types: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> HeadPage | None:
    """The page ``reads.timeline`` would give, if the head holds it for certain; else None.

    The head is a prefix of the timeline in the store's order, so the first
    ``limit + 1`` matches inside it are the first overall. Fewer matches are
    the whole answer only when the head is the whole timeline. A cursor is
    found by its entry (not compared): the store's UUID order is its own.
    """
    facts = head.facts
    start = 0
    if after is not None:
        at_ms, event_id = epoch_ms(after[0]), after[1]
        start = next((i + 1 for i, f in enumerate(facts) if f[0] == event_id and f[4] == at_ms),
                     -1)  # fmt: skip
        if start < 0:
            return None
    low = epoch_ms(since) if since is not None else None
    high = epoch_ms(until) if until is not None else None
    found: list[int] = []
    for i in range(start, len(facts)):
        fact = facts[i]
        if channels and fact[1] not in channels:
            continue
        if types and fact[2] not in types:
            continue
        if (low is not None and fact[4] < low) or (high is not None and fact[4] >= high):
            continue
        found.append(i)
        if len(found) > limit:
            last = facts[found[limit - 1]]
            return HeadPage([head.texts[j] for j in found[:limit]],
                            [facts[j] for j in found[:limit]],
                            (from_epoch_ms(last[4]), last[0]))  # fmt: skip
    if not head.complete:
        return None
    return HeadPage([head.texts[j] for j in found], [facts[j] for j in found], None)
