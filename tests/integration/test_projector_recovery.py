"""The projector's intent commits: a flush that died after its insert is redone, invisibly.

A projector is made to die exactly between ClickHouse accepting a flush and
Kafka recording it (the window a SIGKILL can hit); a new projector finds the
intent, re-reads the same ranges, inserts them with the same tokens, and
ClickHouse drops the repeat, in ``touchpoints`` and in the views fed by it.
Its own module: a process holds one chDB path at a time.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from events.topics import RESOLVED
from projections.migrations import apply_migrations
from projections.projector import Projector, ProjectorConfig
from projections.store import open_projection_store
from services.kafka.lag import group_lag
from tests.integration.pipeline import Run
from tests.support import random_tenant

pytestmark = pytest.mark.integration


class CrashBeforeCommit(Exception):
    pass


class CrashingProjector(Projector):
    """Dies like a SIGKILL between ClickHouse accepting a flush and Kafka recording it."""

    async def _write(self, flush: Any, batch: Any, flush_id: str) -> None:
        assert self._consumer is not None
        real = self._consumer.commit

        async def commit(offsets: Any = None) -> None:
            if offsets and all(m.metadata == "" for m in offsets.values()):
                raise CrashBeforeCommit
            await real(offsets)

        self._consumer.commit = commit  # type: ignore[method-assign]
        await super()._write(flush, batch, flush_id)


def test_a_flush_interrupted_after_its_insert_is_redone_without_duplicates(
    pipeline_run: Run, kafka_bootstrap: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    tenant = next(iter(pipeline_run.tenants))
    count = "SELECT count(), uniqExact(event_id) FROM touchpoints WHERE tenant = {t:String}"
    try:
        apply_migrations(store)
        group = f"projector-{random_tenant()}"
        config = ProjectorConfig(group, flush_rows=100_000, flush_interval_s=2.0, topics=[RESOLVED])
        crashing = CrashingProjector(store, kafka_bootstrap, config)
        with pytest.raises(CrashBeforeCommit):
            asyncio.run(crashing.run())
        first_rows = store.query_rows(count, {"t": tenant})[0]
        assert first_rows[0] > 0, "the crashed flush wrote nothing: nothing to redo"

        async def catch_up() -> Projector:
            projector = Projector(store, kafka_bootstrap, ProjectorConfig(group, topics=[RESOLVED]))
            task = asyncio.create_task(projector.run())
            while await group_lag(kafka_bootstrap, group, [RESOLVED]) != 0:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.2)
            projector.stop()
            await task
            return projector

        with caplog.at_level(logging.WARNING, logger="projections.projector"):
            asyncio.run(catch_up())
        assert any("redoing interrupted flush" in r.message for r in caplog.records)
        rows, distinct = store.query_rows(count, {"t": tenant})[0]
        assert rows == distinct == len({e["event_id"] for e in pipeline_run.tenants[tenant]})
        total = store.query_rows(
            "SELECT sum(events) FROM daily_touchpoints WHERE tenant = {t:String}", {"t": tenant}
        )[0][0]
        assert total == rows  # the view was not fed twice either
    finally:
        store.close()
