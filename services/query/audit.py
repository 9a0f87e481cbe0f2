"""The read audit: every profile or timeline read, buffered and written every few seconds.

Buffered because a read must not wait for an insert, and ClickHouse prefers
fewer, larger inserts. Every few seconds (``TOUCHLINE_AUDIT_FLUSH_MS``, 5 s),
not every second: in embedded chDB a query on another thread still stopped
the event loop for up to 41 ms (measured). ``flush`` runs on a timer and at
shutdown; a read that cannot be audited is logged loudly, never silently
dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime

import pyarrow as pa

from projections.store import ProjectionStore, ProjectionStoreError
from services.auth.keys import ApiKey

log = logging.getLogger(__name__)
SCHEMA = pa.schema([("tenant", pa.string()), ("customer_id", pa.string()),
                    ("read_at", pa.timestamp("ms", tz="UTC")), ("key_id", pa.string()),
                    ("role", pa.string()), ("what", pa.string())])  # fmt: skip


class AuditLog:
    def __init__(self, store: ProjectionStore) -> None:
        self.store = store
        self._pending: list[tuple[str, str, datetime, str, str, str]] = []
        self._lock = threading.Lock()

    def record(self, key: ApiKey, customer_id: str, what: str) -> None:
        with self._lock:
            self._pending.append(
                (key.tenant, customer_id, datetime.now(UTC), key.key_id, key.role, what)
            )

    def flush(self) -> int:
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return 0
        table = pa.Table.from_pylist(
            [dict(zip(SCHEMA.names, r, strict=True)) for r in rows], SCHEMA
        )
        try:
            self.store.insert_arrow("audit_reads", table, f"audit:{uuid.uuid4()}")
        except ProjectionStoreError:
            log.exception(
                "could not write %d audit rows; keeping them for the next flush", len(rows)
            )
            with self._lock:
                self._pending[:0] = rows
            return 0
        return len(rows)

    async def run(self, interval_s: float = 1.0) -> None:
        try:
            while True:
                await asyncio.sleep(interval_s)
                await asyncio.to_thread(self.flush)
        finally:
            await asyncio.to_thread(self.flush)
