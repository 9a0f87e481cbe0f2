"""The agent API follows the projector: what a write touched is dropped from memory, its streams woken.

A sink like the tables and the serving index (``projections.sinks``): the
projector calls it from its writing thread right after each insert, so a read
that raced the write is not kept (the cache's epoch), and live streams of the
customers named in the rows (owner, alias or survivor) read once more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pyarrow as pa

from services.query.cache import ReadCache
from services.query.changes import ChangeFeed


def customers_in(table: pa.Table) -> set[tuple[str, str]]:
    """(tenant, id) of every customer a table's rows name: owner, alias or survivor."""
    if "tenant" not in table.column_names:
        return set()
    tenants = table.column("tenant").to_pylist()
    found: set[tuple[str, str]] = set()
    for name in ("customer_id", "alias_id", "survivor_id"):
        if name in table.column_names:
            found.update(zip(tenants, table.column(name).to_pylist(), strict=True))
    return found


class ReadSideSink:
    def __init__(
        self, cache: ReadCache, changes: ChangeFeed, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.cache, self.changes, self.loop = cache, changes, loop

    def write(self, table: str, rows: pa.Table, token: str) -> None:
        self._touched(customers_in(rows))

    def erase(self, tenant: str, people: Sequence[str], at_us: int) -> None:
        self._touched({(tenant, person) for person in people})

    def _touched(self, touched: set[tuple[str, str]]) -> None:
        if touched:
            self.cache.drop(touched)  # thread-safe; the streams live on the event loop
            self.loop.call_soon_threadsafe(self.changes.notify, touched)
