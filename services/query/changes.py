"""Which customers the projector just wrote, for live streams to wait on instead of polling.

Each open agent page holds a stream that used to ask the store every half
second what was new (three queries): fifty open pages were three hundred
queries a second on the one chDB session, and every timeline read queued
behind them. The projector runs in this process and names the customers each
insert touched, so a stream now sleeps until one of its customer's ids is
named, then reads once. A slow poll stays as a safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

Key = tuple[str, str]  # (tenant, customer id as text)


class Subscription:
    """One stream's interest in some customer ids; ``wait`` returns once any was written."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed
        self.keys: set[Key] = set()
        self.changed = asyncio.Event()

    def watch(self, keys: Iterable[Key]) -> None:
        """Follow exactly these ids from now on (a merge may have added an alias)."""
        wanted = set(keys)
        for key in self.keys - wanted:
            self.feed._remove(key, self)
        for key in wanted - self.keys:
            self.feed._waiting.setdefault(key, set()).add(self)
        self.keys = wanted

    async def wait(self, timeout_s: float) -> bool:
        """True when something was written since the last ``wait`` returned True."""
        try:
            await asyncio.wait_for(self.changed.wait(), timeout_s)
        except TimeoutError:
            return False
        self.changed.clear()
        return True


class ChangeFeed:
    def __init__(self) -> None:
        self._waiting: dict[Key, set[Subscription]] = {}

    def notify(self, touched: Iterable[Key]) -> None:
        for key in touched:
            for subscription in self._waiting.get(key, ()):
                subscription.changed.set()

    def notify_all(self) -> None:
        """Every table may have changed (a replay swapped one in)."""
        for subscriptions in self._waiting.values():
            for subscription in subscriptions:
                subscription.changed.set()

    @contextmanager
    def subscribe(self, keys: Iterable[Key]) -> Iterator[Subscription]:
        subscription = Subscription(self)
        subscription.watch(keys)
        try:
            yield subscription
        finally:
            subscription.watch(())

    def _remove(self, key: Key, subscription: Subscription) -> None:
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.discard(subscription)
            if not waiting:
                del self._waiting[key]

    def __len__(self) -> int:
        return len(self._waiting)
