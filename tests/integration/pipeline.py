"""One run of the stream worker over simulated traffic, shared by the tests that check it.

A simulated population for tenant A in arrival order, the same population
shuffled for tenant B, and a worker killed with SIGKILL while tenant B
streams in, then restarted. The stream-processing tests check the worker's
outputs against the oracle; the projection tests project the same outputs
into ClickHouse. Session-scoped so that the worker runs once.
"""

from __future__ import annotations

import asyncio
import functools
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from events.privacy.protector import EnvelopeProtector
from events.topics import CUSTOMERS, IDENTITY_COMMANDS, RESOLVED, SCORES, TOUCHPOINTS
from events.touchpoint import decode_touchpoint
from projections.opening import Opener
from projections.rows import Rejected, SourceRecord
from services.kafka.lag import group_lag
from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from services.simulator.simulation import SimulationConfig, simulate
from tests.support import (
    TOUCHLINE,
    base_env,
    end_offsets,
    random_tenant,
    read_since,
    start_group_at_end,
    wait_until,
)

END = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Run:
    tenants: dict[str, list[dict[str, Any]]]  # tenant -> accepted envelopes (as logged, upcast)
    resolved: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    store_url: str
    killed_after: int
    #: a third, small tenant for tests that append events later (so A and B stay as the oracle has them)
    live_tenant: str = ""
    live: list[dict[str, Any]] | None = None
    #: the run's key store: a process that reads its log (a projector) needs the same keys
    key_env: dict[str, str] = field(default_factory=dict)

    def opener(self) -> Opener:
        """What a projector of this run opens sealed values with (a replay needs the same)."""
        return Opener(_protector(tuple(sorted(self.key_env.items()))))

    def subject(self, tenant: str, kind: str, value: str) -> str:
        """What the identity store knows a (normalized) identifier by."""
        return _protector(tuple(sorted(self.key_env.items()))).subject(tenant, kind, value)


@functools.cache
def _protector(key_env: tuple[tuple[str, str], ...]) -> EnvelopeProtector:
    protector = open_protector(Settings.from_env(dict(key_env)))
    assert protector is not None, "the pipeline run seals (TOUCHLINE_ENCRYPT_PII is on)"
    return protector


def key_env_of(data: Path) -> dict[str, str]:
    """The variables that point a process at the key store of the run in ``data``."""
    return {
        "TOUCHLINE_KEY_STORE": f"sqlite://{data / 'privacy.sqlite3'}",
        "TOUCHLINE_ROOT_KEY_FILE": str(data / "root.key"),
    }


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [TOUCHLINE, "worker", "--loglevel", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _publish(
    bootstrap: str, tenant: str, events: list[dict[str, Any]], env: dict[str, str]
) -> None:
    """Sealed with the run's keys (its data directory's key store), as ingest would."""
    summary = PublishSummary()
    lines = [Line(i, {**e, "tenant": tenant}) for i, e in enumerate(events, 1)]
    settings = Settings.from_env(env)
    asyncio.run(publish_kafka(lines, bootstrap, tenant, "US", summary, settings=settings))


def _wait_idle(bootstrap: str, group: str, timeout: float = 240) -> None:
    def idle() -> bool:
        return asyncio.run(group_lag(bootstrap, group, [TOUCHPOINTS, RESOLVED])) == 0

    wait_until(idle, timeout, "the worker to catch up", 1.0)
    before = asyncio.run(end_offsets(bootstrap, SCORES))
    time.sleep(2.0)  # scores are written after a batch is processed: let the last one land
    wait_until(
        lambda: asyncio.run(end_offsets(bootstrap, SCORES)) == before or idle(),
        30,
        "scores to settle",
        1.0,
    )


@pytest.fixture(scope="session")
def pipeline_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data = tmp_path_factory.mktemp("worker")
    group = f"pipeline-{random_tenant()}"  # its own group: it goes with this run's identity store
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_WORKER_BATCH_SIZE="500",
                   TOUCHLINE_WORKER_GROUP=group)  # fmt: skip
    since = {
        t: asyncio.run(end_offsets(kafka_bootstrap, t))
        for t in (TOUCHPOINTS, RESOLVED, CUSTOMERS, SCORES)
    }
    sim = simulate(SimulationConfig(customers=250, seed=21), END)
    tenant_a, tenant_b, tenant_live = random_tenant(), random_tenant(), random_tenant()
    shuffled = list(sim.events)
    random.Random(5).shuffle(shuffled)
    log = data / "worker.log"
    asyncio.run(
        start_group_at_end(kafka_bootstrap, group, [TOUCHPOINTS, RESOLVED, IDENTITY_COMMANDS])
    )
    worker = _worker(env, log)
    try:
        _publish(
            kafka_bootstrap,
            tenant_live,
            simulate(SimulationConfig(customers=30, seed=33), END).events,
            env,
        )
        _publish(kafka_bootstrap, tenant_a, sim.events, env)
        half = len(shuffled) // 2
        _publish(kafka_bootstrap, tenant_b, shuffled[:half], env)
        wait_until(lambda: _count_tenant(kafka_bootstrap, since[RESOLVED], tenant_b) > 500, 120,
                   "the worker to be busy with tenant B", 0.5)  # fmt: skip
        killed_after = _count_tenant(kafka_bootstrap, since[RESOLVED], tenant_b)
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        _publish(kafka_bootstrap, tenant_b, shuffled[half:], env)
        worker = _worker(env, log)
        _wait_idle(kafka_bootstrap, group)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
    yield _collect(
        kafka_bootstrap,
        since,
        (tenant_a, tenant_b),
        f"sqlite://{data / 'identity.sqlite3'}",
        killed_after,
        tenant_live,
        key_env_of(data),
    )


def _count_tenant(bootstrap: str, since: Any, tenant: str) -> int:
    return sum(
        1
        for r in asyncio.run(read_since(bootstrap, since, RESOLVED))
        if orjson.loads(r.value).get("tenant") == tenant
    )


def _collect(
    bootstrap: str,
    since: dict[str, Any],
    tenants: tuple[str, str],
    store: str,
    killed_after: int,
    live_tenant: str,
    key_env: dict[str, str],
) -> Run:
    """What the worker wrote, opened (the oracle compares values in clear)."""
    opener = Opener(_protector(tuple(sorted(key_env.items()))))
    ours = (*tenants, live_tenant)  # other tests' tenants share the broker, not the keys

    def records_of(topic: str) -> list[SourceRecord]:
        return [SourceRecord(topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                for r in asyncio.run(read_since(bootstrap, since[topic], topic))
                if orjson.loads(r.value).get("tenant") in ours]  # fmt: skip

    def read(topic: str) -> list[dict[str, Any]]:
        records = records_of(topic)
        rejected: list[Rejected] = []
        if topic == RESOLVED:
            records = opener.resolved(records, rejected)
        elif topic == CUSTOMERS:
            records = opener.customers(records, rejected)
        assert not rejected, rejected[:3]
        return [orjson.loads(r.value) for r in records]

    opened = opener.resolved(records_of(TOUCHPOINTS), [])
    logged = [decode_touchpoint(r.value).as_dict() for r in opened]
    by_tenant: dict[str, list[dict[str, Any]]] = {t: [] for t in (*tenants, live_tenant)}
    for envelope in logged:
        if envelope["tenant"] in by_tenant:
            by_tenant[envelope["tenant"]].append(envelope)
    live = by_tenant.pop(live_tenant)
    return Run(by_tenant, read(RESOLVED), read(CUSTOMERS), read(SCORES), store, killed_after,
               live_tenant, live, key_env)  # fmt: skip
