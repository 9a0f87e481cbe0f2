"""The engagement model and state: a function of the set of events, merges are unions."""

from __future__ import annotations

import asyncio
import random

import orjson

from events.identities import identity_digest
from services.engagement.model import DAY_MS, MODEL_VERSION, Fact, churn_risk, engagement, rfm
from services.engagement.stage import EngagementStage
from tests.fakes import DictTable, FakeOut

AS_OF = 1_800_000_000_000


def facts() -> list[Fact]:
    return [
        Fact("purchase.completed", "store", AS_OF - 3 * DAY_MS, "12800"),
        Fact("purchase.completed", "web", AS_OF - 40 * DAY_MS, "4200"),
        Fact("purchase.refunded", "store", AS_OF - 2 * DAY_MS, "4200"),
        Fact("email.clicked", "email", AS_OF - 1 * DAY_MS),
        Fact("call.completed", "phone", AS_OF - 90 * DAY_MS),
    ]


def test_score_ignores_order_and_explains_itself() -> None:
    shuffled = facts()
    random.Random(3).shuffle(shuffled)
    assert engagement(facts(), AS_OF) == engagement(shuffled, AS_OF)
    result = engagement(facts(), AS_OF)
    assert 0 < result["score"] <= 100
    assert result["contributions"][0]["type"] == "purchase.completed"
    assert abs(sum(c["value"] for c in result["contributions"]) - result["raw"]) < 0.01


def test_recency_decays_with_a_thirty_day_half_life() -> None:
    fresh = engagement([Fact("store.visited", "store", AS_OF)], AS_OF)["raw"]
    month_old = engagement([Fact("store.visited", "store", AS_OF - 30 * DAY_MS)], AS_OF)["raw"]
    assert month_old == fresh / 2


def test_rfm_and_churn() -> None:
    result = rfm(facts(), AS_OF)
    assert (result["frequency"], result["monetary"], result["recency_days"]) == (2, "12800", 3.0)
    assert churn_risk([0, 10 * DAY_MS, 20 * DAY_MS], 35.0) == "high"
    assert churn_risk([0, 10 * DAY_MS], 5.0) == "low"
    assert churn_risk([0], 5.0) == "unknown"


def resolved(
    customer: str, event_id: str, event_type: str = "store.visited", **identities: str
) -> bytes:
    body = {"tenant": "t", "customer_id": customer, "event_id": event_id, "type": event_type,
            "channel": "store", "occurred_at": "2026-11-01T00:00:00.000Z", "payload": {},
            "identities": identities or {"email": f"{customer}@x.io"}}  # fmt: skip
    return orjson.dumps(body)


def run(stage: EngagementStage, values: list[bytes]) -> None:
    asyncio.run(stage.handle([(v, None) for v in values]))


def test_duplicates_count_once_and_merges_move_state() -> None:
    out, table = FakeOut(), DictTable()
    stage = EngagementStage(table, out)  # type: ignore[arg-type]
    run(stage, [resolved("a", "e1"), resolved("a", "e1"), resolved("b", "e2")])
    assert len(table.data["t|a"]["facts"]) == 1
    control = {"control": "merged_into", "tenant": "t", "customer_id": "a", "survivor_id": "b"}
    run(stage, [orjson.dumps(control), resolved("a", "e3")])
    forwarded = [orjson.loads(r.value) for r in out.written["touchpoints.resolved"]]
    assert [f.get("control") or f["event_id"] for f in forwarded] == ["absorb", "e3"]
    run(stage, [r.value for r in out.written["touchpoints.resolved"]])
    assert set(table.data["t|b"]["facts"]) == {"e1", "e2", "e3"}
    scores = [orjson.loads(r.value) for r in out.written["scores"]]
    assert scores[-1]["customer_id"] == "b" and scores[-1]["events"] == 3
    assert scores[-1]["model_version"] == MODEL_VERSION


def test_unreadable_records_go_to_the_dead_letter_topic() -> None:
    out = FakeOut()
    run(EngagementStage(DictTable(), out), [b"{not json"])  # type: ignore[arg-type]
    [dead] = out.written["touchpoints.deadletter"]
    assert "unreadable" in orjson.loads(dead.value)["reason"]


def test_an_unmerge_moves_the_facts_of_the_detached_identifier() -> None:
    out, table = FakeOut(), DictTable()
    stage = EngagementStage(table, out)  # type: ignore[arg-type]
    run(stage, [resolved("a", "e1", email="a@x.io"),
                resolved("a", "e2", email="a@x.io", phone="+14155552671"),
                resolved("a", "e3", phone="+14155552671")])  # fmt: skip
    control = {"control": "detached", "tenant": "t", "customer_id": "a", "moved_to": "n",
               "identity": identity_digest("phone", "+14155552671"),
               "remaining": [identity_digest("email", "a@x.io")]}  # fmt: skip
    late = resolved(
        "a", "e4", "call.completed", phone="+14155552671"
    )  # resolved before the unmerge
    run(stage, [orjson.dumps(control), late])
    assert set(table.data["t|a"]["facts"]) == {"e1", "e2"}  # e2 carried an identifier that stays
    forwarded = [orjson.loads(r.value) for r in out.written["touchpoints.resolved"]]
    assert [(f["customer_id"], f.get("control") or f["event_id"]) for f in forwarded] == [
        ("n", "absorb"),
        ("n", "e4"),
    ]
    run(stage, [r.value for r in out.written["touchpoints.resolved"]])
    assert set(table.data["t|n"]["facts"]) == {"e3", "e4"}
    assert orjson.loads(out.written["scores"][-1].value)["events"] == 2


def test_an_erasure_clears_state_and_dead_letters_what_arrives_later() -> None:
    out, table = FakeOut(), DictTable()
    stage = EngagementStage(table, out)  # type: ignore[arg-type]
    run(stage, [resolved("a", "e1")])
    run(stage, [orjson.dumps({"control": "erased", "tenant": "t", "customer_id": "a"}),
                resolved("a", "e2")])  # fmt: skip
    assert table.data["t|a"]["facts"] == {} and table.data["t|a"]["erased"] is True
    [dead] = out.written["touchpoints.deadletter"]
    assert orjson.loads(dead.value)["reason"] == "customer erased"
    assert len(out.written["scores"]) == 1  # the first batch's; an erased customer has no score
