"""The simulator: deterministic, realistic enough to exercise identity resolution, honest about anomalies."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from events.intake import EventIntake, PreparedEvent
from services.simulator.simulation import (
    Simulation,
    SimulationConfig,
    normalized_identity,
    simulate,
)

END = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimulationConfig(customers=300, seed=5), END)


def test_same_seed_same_bytes() -> None:
    one = simulate(SimulationConfig(customers=30, seed=9), END)
    two = simulate(SimulationConfig(customers=30, seed=9), END)
    other = simulate(SimulationConfig(customers=30, seed=10), END)
    assert orjson.dumps(one.events) == orjson.dumps(two.events)
    assert orjson.dumps(one.events) != orjson.dumps(other.events)


def test_exactly_the_injected_invalid_events_are_refused(sim: Simulation) -> None:
    results = EventIntake("US").prepare_batch(list(sim.events), "demo", END)
    refused = sum(1 for r in results if not isinstance(r, PreparedEvent))
    assert refused == sim.stats["invalid"] > 0


def test_duplicates_repeat_event_ids(sim: Simulation) -> None:
    counts = Counter(e["event_id"] for e in sim.events)
    assert sum(c - 1 for c in counts.values()) == sim.stats["duplicates"] > 0
    assert len(counts) == sim.stats["valid"] + sim.stats["invalid"]


def test_arrival_order_is_not_event_time_order(sim: Simulation) -> None:
    times = [e["occurred_at"] for e in sim.events]
    assert sum(1 for a, b in itertools.pairwise(times) if b < a) > sim.stats["out_of_order"] / 2
    assert sim.stats["late"] > 0


def test_every_channel_and_many_types_appear(sim: Simulation) -> None:
    types = Counter(e["type"] for e in sim.events)
    channels = {t.split(".")[0] for t in types}
    assert {"call", "chat", "email", "store", "purchase", "social", "form", "web"} <= channels
    assert types["email.opened"] < types["email.delivered"] < types["email.sent"] + 1
    assert any(e["schema_version"] == 1 and e["type"] == "purchase.completed" for e in sim.events)


def test_some_events_link_two_strong_identifiers(sim: Simulation) -> None:
    strong = {"customer_ref", "email", "phone", "loyalty_id"}
    linking = [e for e in sim.events if len(strong & set(e["identities"])) >= 2]
    assert len(linking) > 50


def test_truth_maps_each_identifier_to_one_person(sim: Simulation) -> None:
    owners: dict[tuple[str, str], set[object]] = {}
    for row in sim.truth():
        owners.setdefault((row["kind"], row["value"]), set()).add(row["person_id"])
    assert all(len(people) == 1 for people in owners.values())
    for event in sim.events[:500]:
        for kind, value in event["identities"].items():
            try:
                key = (kind, normalized_identity(kind, value))
            except ValueError:
                continue  # one of the injected invalid events
            assert key in owners, key
