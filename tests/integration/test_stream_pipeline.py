"""The stream processors over the real broker, checked against an independent oracle.

One run, shared by the tests below: a simulated population for tenant A in
arrival order, the same population shuffled for tenant B, and a worker killed
with SIGKILL while tenant B streams in, then restarted.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from events.touchpoint import decode_touchpoint
from services.identity.resolver import IdentityResolver
from services.identity.store import eventsourcing_env
from services.kafka.lag import group_lag
from services.kafka.topics import CUSTOMERS, RESOLVED, SCORES, TOUCHPOINTS
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from services.simulator.simulation import SimulationConfig, simulate
from tests import oracle
from tests.support import (
    TOUCHLINE,
    base_env,
    end_offsets,
    random_tenant,
    read_since,
    wait_until,
)

pytestmark = pytest.mark.integration
END = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Run:
    tenants: dict[str, list[dict[str, Any]]]  # tenant -> accepted envelopes (as logged, upcast)
    resolved: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    store_url: str
    killed_after: int


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [TOUCHLINE, "worker", "--loglevel", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _publish(bootstrap: str, tenant: str, events: list[dict[str, Any]]) -> None:
    summary = PublishSummary()
    lines = [Line(i, {**e, "tenant": tenant}) for i, e in enumerate(events, 1)]
    asyncio.run(publish_kafka(lines, bootstrap, tenant, "US", summary))


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


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data = tmp_path_factory.mktemp("worker")
    group = f"pipeline-{random_tenant()}"  # its own group: it goes with this run's identity store
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_WORKER_BATCH_SIZE="500",
                   TOUCHLINE_WORKER_GROUP=group)  # fmt: skip
    since = {
        t: asyncio.run(end_offsets(kafka_bootstrap, t))
        for t in (TOUCHPOINTS, RESOLVED, CUSTOMERS, SCORES)
    }
    sim = simulate(SimulationConfig(customers=250, seed=21), END)
    tenant_a, tenant_b = random_tenant(), random_tenant()
    shuffled = list(sim.events)
    random.Random(5).shuffle(shuffled)
    log = data / "worker.log"
    worker = _worker(env, log)
    try:
        _publish(kafka_bootstrap, tenant_a, sim.events)
        half = len(shuffled) // 2
        _publish(kafka_bootstrap, tenant_b, shuffled[:half])
        wait_until(lambda: _count_tenant(kafka_bootstrap, since[RESOLVED], tenant_b) > 500, 120,
                   "the worker to be busy with tenant B", 0.5)  # fmt: skip
        killed_after = _count_tenant(kafka_bootstrap, since[RESOLVED], tenant_b)
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        _publish(kafka_bootstrap, tenant_b, shuffled[half:])
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
    )


def _count_tenant(bootstrap: str, since: Any, tenant: str) -> int:
    return sum(
        1
        for r in asyncio.run(read_since(bootstrap, since, RESOLVED))
        if orjson.loads(r.value).get("tenant") == tenant
    )


def _collect(
    bootstrap: str, since: dict[str, Any], tenants: tuple[str, str], store: str, killed_after: int
) -> Run:
    def read(topic: str) -> list[dict[str, Any]]:
        values = [
            orjson.loads(r.value) for r in asyncio.run(read_since(bootstrap, since[topic], topic))
        ]
        return [v for v in values if v.get("tenant") in tenants]

    logged = [
        decode_touchpoint(r.value).as_dict()
        for r in asyncio.run(read_since(bootstrap, since[TOUCHPOINTS], TOUCHPOINTS))
    ]
    by_tenant: dict[str, list[dict[str, Any]]] = {t: [] for t in tenants}
    for envelope in logged:
        if envelope["tenant"] in by_tenant:
            by_tenant[envelope["tenant"]].append(envelope)
    return Run(by_tenant, read(RESOLVED), read(CUSTOMERS), read(SCORES), store, killed_after)


def _final_partition(run: Run, tenant: str) -> list[frozenset[str]]:
    resolver = IdentityResolver(eventsourcing_env(run.store_url))
    groups: dict[Any, set[str]] = defaultdict(set)
    for envelope in run.tenants[tenant]:
        for kind, value in envelope["identities"].items():
            owner = resolver.customer_of(tenant, kind, value)
            if owner is not None:
                groups[owner].add(f"{kind}:{value}")
    return [frozenset(g) for g in groups.values()]


def test_customers_match_the_oracle_in_order_and_shuffled(run: Run) -> None:
    for tenant, envelopes in run.tenants.items():
        expected = sorted(map(sorted, oracle.expected_customers(envelopes)))
        assert sorted(map(sorted, _final_partition(run, tenant))) == expected, tenant
    a, b = run.tenants
    assert sorted(map(sorted, _final_partition(run, a))) == sorted(
        map(sorted, _final_partition(run, b))
    )


def test_every_event_is_resolved_and_none_twice_in_state(run: Run) -> None:
    for tenant, envelopes in run.tenants.items():
        resolved = {
            r["event_id"] for r in run.resolved if r["tenant"] == tenant and "event_id" in r
        }
        assert resolved == {e["event_id"] for e in envelopes}
    assert run.killed_after > 0


def test_links_and_merges_are_recorded_once(run: Run) -> None:
    versions = Counter((c["customer_id"], c["version"]) for c in run.customers)
    distinct = {(c["customer_id"], c["version"]): c for c in run.customers}
    links = Counter((c["tenant"], c["data"]["kind"], c["data"]["value"]) for c in distinct.values()
                    if c["type"] == "IdentityLinked")  # fmt: skip
    assert links and max(links.values()) == 1, [k for k, n in links.items() if n > 1][:5]
    merges = [c for c in distinct.values() if c["type"] == "CustomersMerged"]
    absorbed = Counter(c["data"]["absorbed_id"] for c in merges)
    assert merges and max(absorbed.values()) == 1
    assert all(c["data"]["reason"] for c in merges)
    assert max(versions.values()) >= 1


def test_scores_match_the_oracle(run: Run) -> None:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for score in run.scores:
        latest[(score["tenant"], score["customer_id"])] = score
    checked = 0
    for tenant, envelopes in run.tenants.items():
        resolver = IdentityResolver(eventsourcing_env(run.store_url))
        for group in oracle.expected_customers(envelopes):
            kind, value = next(iter(sorted(group))).split(":", 1)
            customer = resolver.customer_of(tenant, kind, value)
            score = latest.get((tenant, str(customer)))
            assert score is not None, (tenant, sorted(group))
            facts = oracle.facts_for(group, envelopes)
            assert score["events"] == len(facts), _explain(run, tenant, str(customer), facts)
            assert score["engagement"]["score"] == oracle.expected_score(facts, score["as_of_ms"])
            frequency, money = oracle.expected_rfm(facts, score["as_of_ms"])
            assert (score["rfm"]["frequency"], score["rfm"]["monetary"]) == (frequency, money)
            checked += 1
    assert checked > 300


def _explain(run: Run, tenant: str, customer: str, facts: list[dict[str, Any]]) -> str:
    """Where each of a customer's events went, for a score that disagrees with the oracle."""
    ids = {f["event_id"] for f in facts}
    where: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for r in run.resolved:
        if r.get("event_id") in ids and r["tenant"] == tenant:
            where[r["event_id"]].append((r["customer_id"], r.get("identity_flags", [])))
    customers = {c for hops in where.values() for c, _ in hops} | {customer}
    controls = [r for r in run.resolved if "control" in r and r["tenant"] == tenant
                and (r["customer_id"] in customers or r.get("survivor_id") in customers)]  # fmt: skip
    history = [(s["customer_id"][:8], s["events"]) for s in run.scores
               if s["tenant"] == tenant and s["customer_id"] in customers]  # fmt: skip
    lines = [f"customer {customer}: {len(ids)} events expected"]
    lines += [f"  {f['event_id']} {f['type']} {f['occurred_at']} -> {where.get(f['event_id'])}"
              for f in facts]  # fmt: skip
    lines += [f"  control {c['control']} {c['customer_id']} -> {c.get('survivor_id')} "
              f"({len(c.get('facts', {}))} facts)" for c in controls]  # fmt: skip
    lines.append(f"  score history: {history}")
    text = "\n".join(lines)
    Path(run.store_url.removeprefix("sqlite://")).with_name("explain.txt").write_text(text)
    return text
