"""Segment refresh cost: one rule segment over N customers on chDB (evaluation and diff).

Prints, per N, the first refresh (everyone enters) and a second one after 1% of the
customers bought something (they leave). The publish step is a list here: the broker's
part is measured elsewhere (bench/pipeline). Run: ``.venv/bin/python -m bench.segments``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from events.contracts.segments import SegmentChanged
from projections.migrations import apply_migrations
from projections.rows import CUSTOMERS_SCHEMA, TOUCHPOINTS_SCHEMA
from projections.segments.definitions import SqliteSegmentStore
from projections.store import ProjectionStore, open_projection_store
from services.platform.settings import Settings
from services.segments.refresher import SegmentRefresher

NOW = datetime.now(UTC)
RULE = {"all": [
    {"touchpoints": {"type": "email.opened", "channel": "email", "within_days": 30}, "op": "gte", "value": 1},
    {"touchpoints": {"type": "purchase.completed", "within_days": 30}, "op": "eq", "value": 0},
]}  # fmt: skip


def _people(store: ProjectionStore, tenant: str, n: int) -> list[str]:
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{i}")) for i in range(n)]
    store.insert_arrow("customers", pa.Table.from_pylist(
        [{"tenant": tenant, "customer_id": c, "version": 1, "first_seen": NOW, "identities": [],
          "consent": [], "survivor_id": c, "erased": False, "updated_at": NOW} for c in ids],
        CUSTOMERS_SCHEMA))  # fmt: skip
    _events(store, tenant, ids, "email.opened", "email")
    return ids


def _events(
    store: ProjectionStore, tenant: str, ids: Sequence[str], kind: str, channel: str
) -> None:
    rows = [{"tenant": tenant, "customer_id": c, "event_id": str(uuid.uuid4()), "channel": channel,
             "occurred_at": NOW - timedelta(days=1), "type": kind, "schema_version": 1, "summary": "",
             "payload": "{}", "identities": [], "identity_flags": [], "received_at": NOW,
             "source": "bench", "correlation_id": "", "conversation_id": "", "kafka_partition": 0,
             "kafka_offset": 0} for c in ids]  # fmt: skip
    store.insert_arrow("touchpoints", pa.Table.from_pylist(rows, TOUCHPOINTS_SCHEMA))


async def _run(store: ProjectionStore, definitions: SqliteSegmentStore, n: int) -> None:
    tenant = f"bench{n}"
    ids = _people(store, tenant, n)
    definitions.create(tenant, "opened-not-bought", "rule", RULE, "bench")
    sent: list[SegmentChanged] = []

    async def publish(changes: Sequence[SegmentChanged]) -> None:
        sent.extend(changes)

    refresher = SegmentRefresher(store, definitions, publish, Settings().sql_limits())
    started = time.perf_counter()
    first = await refresher.refresh({tenant})
    took = time.perf_counter() - started
    _events(store, tenant, ids[: max(n // 100, 1)], "purchase.completed", "web")
    started = time.perf_counter()
    second = await refresher.refresh({tenant})
    again = time.perf_counter() - started
    print(f"N={n:>7,}: first refresh {took * 1000:8.1f} ms ({len(first):,} entries), "
          f"after 1% bought {again * 1000:8.1f} ms ({len(second):,} exits), "
          f"{again / n * 1e6:6.1f} µs per customer")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_projection_store(f"chdb://{Path(tmp) / 'ch'}")
        apply_migrations(store)
        definitions = SqliteSegmentStore(Path(tmp) / "segments.sqlite3")
        for n in (1_000, 10_000, 100_000):
            asyncio.run(_run(store, definitions, n))
        definitions.close()
        store.close()


if __name__ == "__main__":
    main()
