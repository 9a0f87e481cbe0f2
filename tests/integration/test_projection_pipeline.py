"""The projector over the real broker: the stream run's outputs, projected into chDB.

``touchline projector`` is SIGKILLed while it works through the topics and
restarted; then the tables are compared with the oracle computed from the
same input: every event once, timelines that read through merges, customers,
scores and aggregates.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from projections.replay import checksum, replay
from projections.store import ProjectionStore, open_projection_store
from services.identity.resolver import IdentityResolver
from services.identity.store import eventsourcing_env
from services.kafka.lag import group_lag
from tests import oracle
from tests.integration.pipeline import Run
from tests.support import TOUCHLINE, base_env, free_port, random_tenant, wait_until

pytestmark = pytest.mark.integration
TOPICS = [RESOLVED, CUSTOMERS, SCORES, DEADLETTER]


@dataclass
class Projected:
    run: Run
    store: ProjectionStore
    killed_with_lag: int
    log: str


def _projector(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([TOUCHLINE, "projector"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


@pytest.fixture(scope="module")
def projected(
    pipeline_run: Run, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Projected]:
    data = tmp_path_factory.mktemp("projector")
    group = f"projector-{random_tenant()}"
    env = base_env(kafka_bootstrap, **pipeline_run.key_env, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_PROJECTOR_GROUP=group,
                   TOUCHLINE_CLICKHOUSE_URL=f"chdb://{data / 'clickhouse'}",
                   TOUCHLINE_PROJECTOR_FLUSH_ROWS="1500", TOUCHLINE_QUERY_PORT=str(free_port()))  # fmt: skip
    log = data / "projector.log"

    def lag() -> int:
        return asyncio.run(group_lag(kafka_bootstrap, group, TOPICS))

    projector = _projector(env, log)
    try:
        wait_until(lambda: 0 < lag() < 2**62, 120, "the projector's first commits", 0.05)
        killed_with_lag = lag()
        projector.send_signal(signal.SIGKILL)
        projector.wait(30)
        projector = _projector(env, log)
        wait_until(lambda: lag() == 0, 240, "the projector to catch up", 0.5)
    finally:
        projector.send_signal(signal.SIGTERM)
        try:
            projector.wait(60)
        except subprocess.TimeoutExpired:
            projector.kill()
    store = open_projection_store(env["TOUCHLINE_CLICKHOUSE_URL"])
    try:
        yield Projected(pipeline_run, store, killed_with_lag, log.read_text(errors="replace"))
    finally:
        store.close()


def _one(store: ProjectionStore, sql: str, **params: Any) -> Any:
    return store.query_rows(sql, params)[0][0]


def test_every_resolved_event_is_projected_once(projected: Projected) -> None:
    assert projected.killed_with_lag > 0, "the projector was not killed mid-way"
    for tenant, envelopes in projected.run.tenants.items():
        rows = projected.store.query_rows(
            "SELECT toString(event_id) FROM touchpoints WHERE tenant = {t:String}", {"t": tenant}
        )
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids)), "a duplicate row is visible to readers"
        assert set(ids) == {e["event_id"] for e in envelopes}


def test_timelines_read_through_merges(projected: Projected) -> None:
    checked = 0
    for tenant, envelopes in projected.run.tenants.items():
        resolver = IdentityResolver(eventsourcing_env(projected.run.store_url))
        for group in oracle.expected_customers(envelopes):
            kind, value = next(iter(sorted(group))).split(":", 1)
            survivor = resolver.customer_of(
                tenant, kind, projected.run.subject(tenant, kind, value)
            )
            timeline = projected.store.query_rows(
                "SELECT toString(event_id) FROM touchpoints WHERE tenant = {t:String} AND customer_id IN "
                "(SELECT {c:UUID} UNION ALL SELECT alias_id FROM customer_aliases "
                " WHERE tenant = {t:String} AND survivor_id = {c:UUID}) "
                "ORDER BY occurred_at DESC, event_id DESC",
                {"t": tenant, "c": survivor},
            )
            expected = {f["event_id"] for f in oracle.facts_for(group, envelopes)}
            assert {r[0] for r in timeline} == expected, (tenant, sorted(group))
            checked += 1
    assert checked > 300


def test_customers_and_identities_match_the_oracle(projected: Projected) -> None:
    for tenant, envelopes in projected.run.tenants.items():
        groups = oracle.expected_customers(envelopes)
        survivors = _one(projected.store,
                         "SELECT count() FROM (SELECT customer_id, argMax(survivor_id, version) AS s "
                         "FROM customers WHERE tenant = {t:String} GROUP BY customer_id) "
                         "WHERE s = customer_id", t=tenant)  # fmt: skip
        assert survivors == len(groups)
        owners = {(k, v): str(c) for k, v, c in projected.store.query_rows(
            "SELECT kind, value, argMax(customer_id, version) FROM identities "
            "WHERE tenant = {t:String} GROUP BY kind, value", {"t": tenant})}  # fmt: skip
        aliases = dict(projected.store.query_rows(
            "SELECT toString(alias_id), toString(argMax(survivor_id, version)) FROM customer_aliases "
            "WHERE tenant = {t:String} GROUP BY alias_id", {"t": tenant}))  # fmt: skip
        for group in groups:
            people = {aliases.get(owners[tuple(key.split(":", 1))], owners[tuple(key.split(":", 1))])
                      for key in group}  # fmt: skip
            assert len(people) == 1, sorted(group)


def test_current_scores_equal_the_last_published(projected: Projected) -> None:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for score in projected.run.scores:
        if score["tenant"] in projected.run.tenants:
            latest[(score["tenant"], score["customer_id"])] = score
    current = {(t, str(c)): s for t, c, s in projected.store.query_rows(
        "SELECT tenant, customer_id, argMax(score, as_of) FROM engagement_current "
        "WHERE tenant IN {ts:Array(String)} GROUP BY tenant, customer_id",
        {"ts": list(projected.run.tenants)})}  # fmt: skip
    assert current == {k: s["engagement"]["score"] for k, s in latest.items()}


def test_daily_aggregates_count_each_event_once(projected: Projected) -> None:
    for tenant, envelopes in projected.run.tenants.items():
        total = _one(projected.store, "SELECT sum(events) FROM daily_touchpoints WHERE tenant = {t:String}",
                     t=tenant)  # fmt: skip
        assert total == len({e["event_id"] for e in envelopes})


def test_a_replay_of_touchpoints_has_the_live_checksum(
    projected: Projected, kafka_bootstrap: str
) -> None:
    live = checksum(projected.store, "touchpoints")
    seen: list[tuple[int, int]] = []
    rebuilt = replay(projected.store, kafka_bootstrap, "touchpoints",
                     lambda d, t: seen.append((d, t)), opener=projected.run.opener())  # fmt: skip
    assert rebuilt == live and live.rows > 0
    assert seen and seen[-1][0] == seen[-1][1]  # the progress reached its total
    tables = {
        r[0]
        for r in projected.store.query_rows(
            "SELECT name FROM system.tables WHERE database = currentDatabase()"
        )
    }
    assert "touchpoints__rebuild" not in tables
