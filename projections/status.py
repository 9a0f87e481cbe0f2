"""How far behind each projection is: ``projection_status`` rows, and the same in memory.

One row per partition flushed since the last report, at most once a second
while busy (and at once when idle): each row is an insert like any other, and
it was one in every flush. The agent API reads freshness from memory, not from
the store: in embedded chDB a query run on another thread still stops the
event loop for up to 40 ms (measured), which was a visible share of its p99.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from aiokafka import TopicPartition

from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from projections.flushes import Flush
from projections.store import ProjectionStore

STATUS_EVERY_S = 1.0  # how often a busy projector writes projection_status
PROJECTIONS = {
    RESOLVED: "touchpoints",
    CUSTOMERS: "customers",
    SCORES: "engagement_scores",
    DEADLETTER: "deadletter",
}


class StatusBook:
    def __init__(self, store: ProjectionStore, table: Callable[[str], str] = str) -> None:
        self.store, self.table = store, table
        # flushed but not yet in projection_status: last offset per partition, and rows
        self._unreported: dict[TopicPartition, int] = {}
        self._unreported_rows = 0
        self._reported_at = 0.0
        #: (projection, topic, partition) -> (lag, written at), as in projection_status
        self._status: dict[tuple[str, str, int], tuple[int, Any]] | None = None

    def note(self, flush: Flush, rows: int) -> None:
        self._unreported.update({tp: last for tp, (_, last) in flush.ranges.items()})
        self._unreported_rows += rows

    @property
    def pending(self) -> bool:
        return bool(self._unreported)

    def due(self) -> bool:
        return time.monotonic() - self._reported_at >= STATUS_EVERY_S

    def record(self, highwater: Callable[[TopicPartition], int | None]) -> None:
        """Write one row per partition flushed since the last call (a blocking store write)."""
        now = datetime.now(UTC)
        unreported, rows_written = self._unreported, self._unreported_rows
        self._unreported, self._unreported_rows = {}, 0
        self._reported_at = time.monotonic()
        names, topics, partitions, offsets, lags = [], [], [], [], []
        for tp, last in unreported.items():
            high = highwater(tp)
            names.append(PROJECTIONS.get(tp.topic, tp.topic))
            topics.append(tp.topic)
            partitions.append(tp.partition)
            offsets.append(last)
            lags.append(max((high or last + 1) - last - 1, 0))
        status = pa.table(
            {
                "projection_name": names,
                "topic": topics,
                "partition": pa.array(partitions, pa.uint16()),
                "last_offset": pa.array(offsets, pa.int64()),
                "lag": pa.array(lags, pa.int64()),
                "rows_written": pa.array([rows_written] * len(names), pa.uint64()),
                "updated_at": pa.array([now] * len(names), pa.timestamp("ms", tz="UTC")),
            }
        )
        token = Flush({tp: (last, last) for tp, last in unreported.items()}).flush_id
        self.store.insert_arrow(
            self.table("projection_status"), status, f"projection_status:{token}"
        )
        if self._status is not None:
            at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as stored: ms
            for name, topic, partition, lag in zip(names, topics, partitions, lags, strict=True):
                self._status[(name, topic, partition)] = (lag, at)

    def load(self) -> None:
        """Read ``projection_status`` once; from then on ``freshness`` answers from memory."""
        rows_ = self.store.query_rows(
            f"SELECT projection_name, topic, partition, argMax(lag, updated_at), max(updated_at) "
            f"FROM {self.table('projection_status')} GROUP BY projection_name, topic, partition"
        )
        self._status = {(str(n), str(t), int(p)): (int(lag), at) for n, t, p, lag, at in rows_}

    def freshness(self) -> Mapping[str, Any] | None:
        """What ``reads.freshness`` reads from the store, as this projector last wrote it."""
        if self._status is None:
            return None
        found: dict[str, dict[str, Any]] = {}
        for (name, _, _), (lag, at) in sorted(self._status.items()):
            seen = found.setdefault(name, {"lag_records": 0, "last_write": at})
            seen["lag_records"] += lag
            seen["last_write"] = max(seen["last_write"], at)
        return found
