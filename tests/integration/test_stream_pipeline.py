"""The stream processors over the real broker, checked against an independent oracle.

The run (``tests/integration/pipeline.py``): a simulated population for
tenant A in arrival order, the same population shuffled for tenant B, and a
worker killed with SIGKILL while tenant B streams in, then restarted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from services.identity.resolver import IdentityResolver
from services.identity.store import eventsourcing_env
from tests import oracle
from tests.integration.pipeline import Run

pytestmark = pytest.mark.integration


@pytest.fixture
def run(pipeline_run: Run) -> Run:
    return pipeline_run


def _final_partition(run: Run, tenant: str) -> list[frozenset[str]]:
    resolver = IdentityResolver(eventsourcing_env(run.store_url))
    groups: dict[Any, set[str]] = defaultdict(set)
    for envelope in run.tenants[tenant]:
        for kind, value in envelope["identities"].items():
            owner = resolver.customer_of(tenant, kind, run.subject(tenant, kind, value))
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
            customer = resolver.customer_of(tenant, kind, run.subject(tenant, kind, value))
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
