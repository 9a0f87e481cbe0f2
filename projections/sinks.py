"""Where a flush's rows go, behind one interface: the ClickHouse tables first, then followers.

A sink is told each table's rows right after the store has them, and each
erasure after the flush that carries it. The store's own tables are a sink
like the others (``ClickHouseTables``); the serving index (``ServingIndexSink``)
and the agent API's read side (``services.query``) follow it, so the projector
calls no one above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import pyarrow as pa

from projections.erasures import Erasures
from projections.serving_index import ServingIndex
from projections.store import ProjectionStore


class Sink(Protocol):
    def write(self, table: str, rows: pa.Table, token: str) -> None:
        """``rows`` of projected ``table`` (``token``: the flush's insert dedup token)."""

    def erase(self, tenant: str, people: Sequence[str], at_us: int) -> None:
        """These customers (a survivor and its aliases) were erased at ``at_us``."""


class ClickHouseTables:
    """The projections themselves: inserts deduplicated by the flush's token."""

    def __init__(
        self, store: ProjectionStore, erasures: Erasures, table: Callable[[str], str] = str
    ) -> None:
        self.store, self.erasures, self.table = store, erasures, table

    def write(self, table: str, rows: pa.Table, token: str) -> None:
        self.store.insert_arrow(self.table(table), rows, token)

    def erase(self, tenant: str, people: Sequence[str], at_us: int) -> None:
        self.erasures.apply(self.store, [(tenant, list(people), at_us)], self.table)


class ServingIndexSink:
    """The agents' serving index, written beside the tables (before the offsets commit)."""

    def __init__(self, index: ServingIndex) -> None:
        self.index = index

    def write(self, table: str, rows: pa.Table, token: str) -> None:
        self.index.apply(table, rows)

    def erase(self, tenant: str, people: Sequence[str], at_us: int) -> None:
        self.index.erase(tenant, people)
