"""The projector's flush policy: size, time, and at once when it has caught up.

An agent waiting for a chat to show up should not wait out a flush interval
while the projector has nothing else to do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from events.topics import RESOLVED
from projections import reads
from projections.migrations import apply_migrations
from projections.projector import Projector, ProjectorConfig
from projections.store import as_utc, open_projection_store
from tests.integration.pipeline import Run
from tests.support import random_tenant, start_group_at_end

pytestmark = pytest.mark.integration


def test_a_lone_event_is_flushed_without_waiting_out_the_interval(
    pipeline_run: Run, kafka_bootstrap: str, tmp_path: Path
) -> None:
    tenant = random_tenant()
    template = next(r for r in pipeline_run.resolved if "control" not in r)
    event = {**template, "tenant": tenant, "event_id": str(uuid.uuid4())}
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        apply_migrations(store)
        group = f"projector-{random_tenant()}"
        asyncio.run(start_group_at_end(kafka_bootstrap, group, [RESOLVED]))

        async def project_one() -> tuple[float, Any]:
            config = ProjectorConfig(group, flush_rows=100_000, flush_interval_s=60.0,
                                     topics=[RESOLVED])  # fmt: skip
            projector = Projector(store, kafka_bootstrap, config)
            task = asyncio.create_task(projector.run())
            await asyncio.sleep(2.0)  # assigned and positioned at the ends
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await producer.start()
            try:
                sent = time.monotonic()
                await producer.send_and_wait(RESOLVED, orjson.dumps(event),
                                             key=f"{tenant}|{event['customer_id']}".encode())  # fmt: skip
            finally:
                await producer.stop()
            while projector.stats.records == 0 and time.monotonic() - sent < 30:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
            waited = time.monotonic() - sent
            for _ in range(600):  # projection_status is written once idle
                if projector.freshness():
                    break
                await asyncio.sleep(0.05)
            projector.stop()
            await task
            return waited, projector.freshness()

        waited, in_memory = asyncio.run(project_one())
        # what the agent API answers from memory is what it would read from the store
        assert in_memory and _comparable(in_memory) == _comparable(reads.freshness(store))
        rows = store.query_rows(
            "SELECT toString(event_id) FROM touchpoints WHERE tenant = {t:String}", {"t": tenant}
        )
        assert [r[0] for r in rows] == [event["event_id"]]
        assert waited < 30, "the flush waited for its 60 s interval"
    finally:
        store.close()


def _comparable(freshness: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {name: (v["lag_records"], int(as_utc(v["last_write"]).timestamp() * 1000))
            for name, v in freshness.items()}  # fmt: skip
