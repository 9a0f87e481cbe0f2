"""A bounded memory of recently accepted event ids, per tenant.

A publisher that retries after a timeout resends events that may already be in
the log. Answering those from memory keeps the log free of most duplicates;
the rest (after a restart, or on another ingest instance) are removed
downstream, where deduplication by event_id is exact.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._ids

    def add_all(self, keys: list[tuple[str, str]]) -> None:
        if self.capacity == 0:
            return
        for key in keys:
            self._ids[key] = None
            self._ids.move_to_end(key)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
