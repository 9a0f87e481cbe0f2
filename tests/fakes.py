"""In-memory stand-ins for a stage's output writer and state table, for tests without a broker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from events.records import Record


class FakeOut:
    """Keeps what a stage writes, by topic (``OutputWriter.write``'s shape)."""

    def __init__(self) -> None:
        self.written: dict[str, list[Record]] = {}

    async def write(self, topic: str, records: Sequence[Record]) -> None:
        self.written.setdefault(topic, []).extend(records)

    async def write_all(self, writes: Sequence[tuple[str, Sequence[Record]]]) -> None:
        for topic, records in writes:
            await self.write(topic, records)


class DictTable:
    """A ``StateTable`` in a dict (the faust table's shape, without partitions)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, state: Any, carrier: Any) -> None:
        self.data[key] = state

    async def persist(self) -> None:
        """Nothing to make durable: the dict is the state."""
