"""Kafka records to projection rows: real record bodies, made by the stages that write them.

``Pipeline`` runs envelopes through ingest's intake, the identity stage (an
in-memory identity store) and the engagement stage, collecting what they
would publish, so these tests read the same bodies the projector will.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pyarrow as pa
import pytest

from events.intake import EventIntake, PreparedEvent
from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from projections.rows import (
    CUSTOMERS_SCHEMA,
    DEADLETTER_SCHEMA,
    ENGAGEMENT_SCORES_SCHEMA,
    RFM_SCHEMA,
    TOUCHPOINTS_SCHEMA,
    Rejected,
    RowError,
    SourceRecord,
    customer_rows,
    deadletter_rows,
    event_key,
    score_rows,
    touchpoint_rows,
)
from projections.summaries import summarize
from services.engagement.stage import EngagementStage
from services.engagement.stage import _dead as engagement_dead
from services.identity.commands import (
    Command,
    command_record,
    detach_command,
    erase_command,
    merge_command,
)
from services.identity.resolver import IdentityResolver
from services.identity.stage import IdentityStage
from services.simulator.simulation import SimulationConfig, simulate
from tests.fakes import DictTable, FakeOut

NOW = datetime(2026, 3, 1, tzinfo=UTC)
T = "shop"
EVENT_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


_Out, _Table = FakeOut, DictTable


class Pipeline:
    """Intake, identity and engagement in one process; ``records(topic)`` is what they published."""

    def __init__(self) -> None:
        self.out = _Out()
        self.intake = EventIntake("US")
        self.identity = IdentityStage(IdentityResolver({}), self.out)  # type: ignore[arg-type]
        self.engagement = EngagementStage(_Table(), self.out)  # type: ignore[arg-type]
        self.offset = 0
        self.engaged = 0

    def send(self, raws: list[dict[str, Any]], extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
        prepared = self.intake.prepare_batch(list(raws), T, NOW)
        values = [(p.key, p.value) for p in prepared if isinstance(p, PreparedEvent)]
        values += extra
        asyncio.run(self.identity.handle([self._message(k, v) for k, v in values]))
        self._engage()

    def command(self, command: Command) -> None:
        record = command_record(command)
        asyncio.run(self.identity.handle_commands([self._message(record.key, record.value)]))
        self._engage()

    def records(self, topic: str) -> list[SourceRecord]:
        return [SourceRecord(topic, 1, n, r.key, r.value, 1_772_000_000_000 + n)
                for n, r in enumerate(self.out.written.get(topic, []))]  # fmt: skip

    def bodies(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.out.written.get(topic, [])]

    def _message(self, key: bytes, value: bytes) -> SimpleNamespace:
        self.offset += 1
        return SimpleNamespace(partition=0, offset=self.offset, key=key, value=value)

    def _engage(self) -> None:
        while self.engaged < len(self.out.written.get(RESOLVED, [])):  # forwards land here too
            batch = self.out.written[RESOLVED][self.engaged :]
            self.engaged += len(batch)
            asyncio.run(self.engagement.handle([(r.value, None) for r in batch]))


def envelope(type_: str, at: str, ids: dict[str, str], **payload: Any) -> dict[str, Any]:
    return {"type": type_, "schema_version": 1, "occurred_at": at, "source": "test",
            "identities": ids, "payload": payload}  # fmt: skip


def visit(at: str, **ids: str) -> dict[str, Any]:
    return envelope("store.visited", at, ids, store_id="shibuya", duration_s=600)


@pytest.fixture(scope="module")
def simulated() -> Pipeline:
    pipeline = Pipeline()
    pipeline.send(simulate(SimulationConfig(customers=20, seed=1, tenant=T), NOW).events)
    return pipeline


@pytest.fixture(scope="module")
def merged() -> tuple[Pipeline, dict[str, str]]:
    """A is merged with B, then A (with B) into C, seen earliest: B -> A -> C, a chain."""
    p = Pipeline()
    p.send([visit("2026-02-10T10:00:00Z", email="a@x.io"),
            visit("2026-02-11T10:00:00Z", phone="+14155552671")])  # fmt: skip
    p.send([visit("2026-02-12T10:00:00Z", email="a@x.io", phone="+14155552671")])
    p.send([visit("2026-02-01T10:00:00Z", customer_ref="crm-1")])
    p.send([visit("2026-02-13T10:00:00Z", customer_ref="crm-1", email="a@x.io")])
    created = [b for b in p.bodies(CUSTOMERS) if b["type"] == "CustomerCreated"]
    ids = dict(zip("ABC", (b["customer_id"] for b in created), strict=True))
    return p, ids


def micros(text: str) -> int:
    return (datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    )


def latest(table: pa.Table, key: tuple[str, ...], value: str) -> dict[tuple[Any, ...], Any]:
    """What ReplacingMergeTree(version) keeps: per key, the value of the highest version."""
    best: dict[tuple[Any, ...], tuple[int, Any]] = {}
    for row in table.to_pylist():
        k = tuple(row[name] for name in key)
        if k not in best or row["version"] >= best[k][0]:
            best[k] = (row["version"], row[value])
    return {k: v for k, (_, v) in best.items()}


# -- touchpoints ---------------------------------------------------------------------


def test_touchpoints_from_simulated_traffic(simulated: Pipeline) -> None:
    records = simulated.records(RESOLVED)
    bodies = [b for b in simulated.bodies(RESOLVED) if "control" not in b]
    table = touchpoint_rows(records)
    assert table.schema == TOUCHPOINTS_SCHEMA
    assert table.num_rows == len(bodies) > 500
    rows = table.to_pylist()
    first, body = rows[0], bodies[0]
    assert (first["tenant"], first["customer_id"], first["event_id"], first["type"]) == (
        T, body["customer_id"], body["event_id"], body["type"])  # fmt: skip
    assert first["occurred_at"] == datetime.fromisoformat(body["occurred_at"])
    assert first["received_at"] == NOW
    assert dict(first["identities"]) == body["identities"]
    assert all(
        orjson.loads(r["payload"]) == b["payload"] for r, b in zip(rows, bodies, strict=True)
    )
    assert {r["kafka_partition"] for r in rows} == {1}
    assert [r["kafka_offset"] for r in rows] == [
        r.offset for r in records if b'"control"' not in r.value
    ]
    purchase = next(r for r in rows if r["type"] == "purchase.completed")
    assert purchase["schema_version"] == 2  # read at the latest version, as the payload is
    assert all(r["summary"] != r["type"] for r in rows)  # every simulated type is summarized


def test_control_records_give_no_touchpoint(merged: tuple[Pipeline, dict[str, str]]) -> None:
    pipeline, _ = merged
    controls = Counter(b.get("control") for b in pipeline.bodies(RESOLVED))
    assert controls["merged_into"] == 2 and controls["absorb"] == 2
    table = touchpoint_rows(pipeline.records(RESOLVED))
    assert table.num_rows == 5  # the five visits, nothing else
    assert set(table.column("summary").to_pylist()) == {"Visited store shibuya, 10 min"}


def test_a_bad_record_is_rejected_or_stops_the_batch(simulated: Pipeline) -> None:
    good = simulated.records(RESOLVED)[:50]
    body = orjson.loads(good[3].value)
    bad_time = {**body, "occurred_at": "yesterday"}
    no_id = {k: v for k, v in body.items() if k != "event_id"}
    bad = [good[0]._replace(value=b"{not json", offset=900),
           good[0]._replace(value=orjson.dumps(no_id), offset=901),
           good[0]._replace(value=orjson.dumps(bad_time), offset=902)]  # fmt: skip
    rejected: list[Rejected] = []
    table = touchpoint_rows([*good[:10], *bad, *good[10:]], rejected)
    assert table.equals(touchpoint_rows(good))  # the checked path gives the fast path's rows
    assert [(r.record.offset, r.reason.split(":")[0]) for r in rejected] == [
        (900, "not JSON"), (901, "not a resolved touchpoint"),
        (902, "a timestamp is not an RFC 3339 date-time with an offset"),
    ]  # fmt: skip
    with pytest.raises(RowError, match=r"touchpoints.resolved\[1\]@900: not JSON"):
        touchpoint_rows([*good, bad[0]])


def test_event_key_names_touchpoints_only(merged: tuple[Pipeline, dict[str, str]]) -> None:
    pipeline, _ = merged
    keys = [event_key(r) for r in pipeline.records(RESOLVED)]
    table = touchpoint_rows(pipeline.records(RESOLVED))
    assert [k for k in keys if k] == list(
        zip(table.column("tenant").to_pylist(), table.column("event_id").to_pylist(), strict=True)
    )
    assert event_key(SourceRecord(RESOLVED, 0, 0, None, b"[", 0)) is None


# -- summaries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "payload", "line"),
    [
        ("call.completed", {"call_id": "c", "direction": "inbound", "duration_s": 252,
                            "agent": "Sato", "disposition": "resolved"},
         "Called in, 4 min 12 s, resolved by agent Sato"),
        ("call.completed", {"call_id": "c", "direction": "outbound", "duration_s": 40,
                            "disposition": "callback_scheduled"},
         "Called out, 40 s, callback scheduled"),
        ("email.opened", {"message_id": "m", "campaign_name": "Winter sale"},
         "Opened email 'Winter sale'"),
        ("purchase.completed", {"order_id": "o", "amount": "12800", "currency": "JPY",
                                "channel": "store", "store_id": "shibuya",
                                "items": [{"sku": "a", "quantity": 2, "unit_price": "4000"},
                                          {"sku": "b", "quantity": 1, "unit_price": "4800"}]},
         "Bought 3 items, 12,800 JPY at shibuya"),
        ("purchase.completed", {"order_id": "o", "amount": "19.99", "currency": "USD",
                                "items": [], "channel": "online"},
         "Bought 19.99 USD online"),
        ("chat.message_received", {"chat_id": "c", "text": "Where\nis my order? " * 8},
         "Wrote in chat: 'Where is my order? Where is my order? Where is my order? Wh…'"),
        ("social.dm_received", {"network": "line", "handle": "@ren", "text": "Hi"},
         "DM on LINE from @ren: 'Hi'"),
        ("email.bounced", {"message_id": "m", "bounce_type": "soft", "reason": "mailbox full"},
         "An email bounced (soft: mailbox full)"),
        ("chat.ended", {"chat_id": "c", "duration_s": 3725.0, "resolved": False, "csat": 2},
         "Chat ended after 1 h 2 min, unresolved, CSAT 2"),
        ("web.page_viewed", {"url": "https://shop.example.com/sale", "title": "Sale"},
         "Viewed 'Sale' (shop.example.com/sale)"),
        ("call.completed", {"direction": "inbound"}, "call.completed"),  # odd payload: the type
        ("fax.received", {"pages": 3}, "fax.received"),  # a type nobody summarizes yet
    ],
)  # fmt: skip
def test_summaries_read_like_a_person(type_: str, payload: dict[str, Any], line: str) -> None:
    assert summarize(type_, payload) == line


def minimal_payload(schema: dict[str, Any]) -> dict[str, Any]:
    """Only the required fields, each with the plainest value its schema allows."""
    plain = {"string": "7", "number": 1, "integer": 1, "boolean": True, "array": [], "object": {}}
    props = schema.get("properties", {})
    return {name: props[name].get("enum", [plain[props[name]["type"]]])[0]
            for name in schema.get("required", [])}  # fmt: skip


@pytest.mark.parametrize(
    "path", sorted(EVENT_SCHEMAS.glob("*/v*.json")), ids=lambda p: p.parent.name + "/" + p.stem
)
def test_every_catalogued_type_has_a_summary(path: Path) -> None:
    """A new event type (or version) without a summary fails here, not on the timeline."""
    type_ = path.parent.name
    line = summarize(type_, minimal_payload(json.loads(path.read_text())))
    latest = max(p.stem for p in path.parent.glob("v*.json"))
    if path.stem == latest:  # older versions arrive upcast, so only the latest must read well
        assert line != type_ and line[0].isupper() and "None" not in line


# -- customers ---------------------------------------------------------------------------


def test_alias_chains_point_at_the_current_survivor(
    merged: tuple[Pipeline, dict[str, str]],
) -> None:
    pipeline, ids = merged
    tables = customer_rows(pipeline.records(CUSTOMERS))
    assert tables["customers"].schema == CUSTOMERS_SCHEMA
    aliases = tables["customer_aliases"]
    assert latest(aliases, ("alias_id",), "survivor_id") == {
        (ids["B"],): ids["C"], (ids["A"],): ids["C"]}  # fmt: skip
    assert sorted(set(aliases.column("reason").to_pylist())) == [
        "customer_ref:crm-1", "email:a@x.io"]  # fmt: skip
    merges = [b for b in pipeline.bodies(CUSTOMERS) if b["type"].endswith(("Merged", "Survivor"))]
    b_to_a = {r["version"] for r in aliases.to_pylist()
              if (r["alias_id"], r["survivor_id"]) == (ids["B"], ids["A"])}  # fmt: skip
    assert b_to_a == {micros(b["recorded_at"]) for b in merges[:2]}  # the first merge's two events
    identities = latest(tables["identities"], ("kind", "value"), "customer_id")
    assert identities == {("email", "a@x.io"): ids["C"], ("phone", "+14155552671"): ids["C"],
                          ("customer_ref", "crm-1"): ids["C"]}  # fmt: skip
    profiles = {r["customer_id"]: r for r in tables["customers"].to_pylist()}
    assert (profiles[ids["A"]]["survivor_id"], profiles[ids["C"]]["survivor_id"]) == (
        ids["C"],
        ids["C"],
    )
    assert dict(profiles[ids["C"]]["identities"]) == {
        "customer_ref": ["crm-1"], "email": ["a@x.io"], "phone": ["+14155552671"]}  # fmt: skip
    assert profiles[ids["C"]]["first_seen"] == datetime(2026, 2, 1, 10, tzinfo=UTC)


def test_one_profile_row_per_customer_the_newest(merged: tuple[Pipeline, dict[str, str]]) -> None:
    pipeline, ids = merged
    records = pipeline.records(CUSTOMERS)
    profiles = customer_rows(records)["customers"]
    assert sorted(profiles.column("customer_id").to_pylist()) == sorted(ids.values())
    newest = {b["customer_id"]: b["profile"]["version"] for b in pipeline.bodies(CUSTOMERS)}
    assert dict(zip(profiles.column("customer_id").to_pylist(),
                    profiles.column("version").to_pylist(), strict=True)) == newest  # fmt: skip
    older_first = customer_rows(list(reversed(records)))["customers"]
    assert sorted(older_first.column("version").to_pylist()) == sorted(newest.values())


def test_an_erased_profile_is_empty_and_flagged(merged: tuple[Pipeline, dict[str, str]]) -> None:
    pipeline, ids = merged
    before = len(pipeline.records(CUSTOMERS))
    pipeline.command(erase_command(T, "GDPR request", customer_id=ids["C"]))
    erasure = pipeline.records(CUSTOMERS)[before:]
    assert {orjson.loads(r.value)["type"] for r in erasure} == {"CustomerErased"}
    tables = customer_rows(erasure)
    rows = {r["customer_id"]: r for r in tables["customers"].to_pylist()}
    assert set(rows) == set(ids.values())  # the survivor and both aliases
    assert all(r["erased"] and r["identities"] == [] and r["consent"] == [] for r in rows.values())
    # The values are gone from the event: the projector unlinks them (see customer_rows).
    assert tables["identities"].num_rows == 0 == tables["customer_aliases"].num_rows


def test_an_unmerge_moves_the_identifier_to_the_new_customer() -> None:
    p = Pipeline()
    p.send([visit("2026-02-10T10:00:00Z", email="a@x.io", phone="+14155552671")])
    p.command(detach_command(T, "phone", "+14155552671", "two people share the account"))
    bodies = p.bodies(CUSTOMERS)
    assert sorted(b["type"] for b in bodies[-3:]) == [
        "CustomerCreated", "IdentityDetached", "IdentityLinked"]  # fmt: skip
    assert bodies[-1]["type"] == "IdentityLinked"
    identities = latest(
        customer_rows(p.records(CUSTOMERS))["identities"], ("kind", "value"), "customer_id"
    )
    assert identities[("phone", "+14155552671")] == bodies[-1]["customer_id"]
    assert identities[("email", "a@x.io")] == bodies[0]["customer_id"]


def test_consent_follows_an_unsubscribe() -> None:
    p = Pipeline()
    p.send([envelope("email.unsubscribed", "2026-02-10T10:00:00Z", {"email": "a@x.io"})])
    [row] = customer_rows(p.records(CUSTOMERS))["customers"].to_pylist()
    assert row["consent"] == [("email", False)]


def test_a_customer_event_without_a_profile_is_rejected(
    merged: tuple[Pipeline, dict[str, str]],
) -> None:
    pipeline, _ = merged
    [first, *rest] = pipeline.records(CUSTOMERS)
    body = orjson.loads(first.value)
    del body["profile"]
    rejected: list[Rejected] = []
    tables = customer_rows([first._replace(value=orjson.dumps(body)), *rest], rejected)
    assert [r.record.offset for r in rejected] == [0]
    assert tables["identities"].num_rows == customer_rows(rest)["identities"].num_rows


# -- scores --------------------------------------------------------------------------------


def test_scores_and_rfm_carry_the_published_fields(simulated: Pipeline) -> None:
    tables = score_rows(simulated.records(SCORES))
    scores, rfm = tables["engagement_scores"], tables["rfm"]
    assert (scores.schema, rfm.schema) == (ENGAGEMENT_SCORES_SCHEMA, RFM_SCHEMA)
    bodies = simulated.bodies(SCORES)
    assert scores.num_rows == rfm.num_rows == len(bodies) > 10
    for score, money, body in zip(scores.to_pylist(), rfm.to_pylist(), bodies, strict=True):
        assert score["as_of"] == datetime.fromtimestamp(body["as_of_ms"] / 1000, UTC)
        assert (score["score"], score["raw"], score["events"]) == (
            body["engagement"]["score"], body["engagement"]["raw"], body["events"])  # fmt: skip
        assert orjson.loads(score["contributions"]) == body["engagement"]["contributions"]
        assert orjson.loads(score["channels"]) == body["channels"]
        assert money["monetary"] == Decimal(body["rfm"]["monetary"])
        assert (money["recency_days"], money["frequency"], money["segment"], money["churn_risk"]) == (
            body["rfm"]["recency_days"], body["rfm"]["frequency"], body["rfm"]["segment"],
            body["rfm"]["churn_risk"])  # fmt: skip
    assert None in rfm.column("recency_days").to_pylist()  # prospects: no purchase, NULL recency


def test_monetary_is_rounded_to_the_columns_scale(simulated: Pipeline) -> None:
    record = simulated.records(SCORES)[0]
    body = orjson.loads(record.value)

    def with_money(text: str) -> SourceRecord:
        return record._replace(
            value=orjson.dumps({**body, "rfm": {**body["rfm"], "monetary": text}})
        )

    rfm = score_rows([with_money("12.34565"), with_money("-4200.00005")])["rfm"]
    assert rfm.column("monetary").to_pylist() == [Decimal("12.3456"), Decimal("-4200.0000")]
    rejected: list[Rejected] = []
    assert score_rows([with_money("1e20")], rejected)["rfm"].num_rows == 0
    assert "does not fit Decimal(18, 4)" in rejected[0].reason


# -- dead letters ----------------------------------------------------------------------------


def test_dead_letters_from_every_stage_name_their_tenant() -> None:
    p = Pipeline()
    junk = envelope(
        "chat.started", "2026-02-10T10:00:00Z", {"email": "test@example.com"}, chat_id="c1"
    )
    p.send([junk], extra=[(b"", b"{not a touchpoint"), (b"shop|email:a@x.io", b"[1")])
    p.command(erase_command(T, "no one", kind="email", value="nobody@x.io"))
    engagement = engagement_dead(
        orjson.dumps({"tenant": "other", "event_id": "e"}), "customer_erased", "customer erased"
    )
    records = [*p.records(DEADLETTER),
               SourceRecord(DEADLETTER, 2, 7, engagement.key, engagement.value, 1_772_000_000_000),
               SourceRecord(DEADLETTER, 2, 8, b"", b"\xff not json", 1_772_000_000_000)]  # fmt: skip
    table = deadletter_rows(records)
    assert table.schema == DEADLETTER_SCHEMA
    rows = table.to_pylist()
    assert [(r["tenant"], r["stage"], r["topic"], r["partition"] >= 0) for r in rows] == [
        ("", "identity", "touchpoints", True),  # undecodable, and sent without a key
        (T, "identity", "touchpoints", True),  # undecodable, but its key names the tenant
        (T, "identity", "touchpoints", True),  # only a junk identifier
        (T, "identity", "identity.commands", True),  # nobody to erase
        ("other", "engagement", "touchpoints.resolved", False),
        ("", "", "", False),
    ]
    assert rows[0]["value"] == "{not a touchpoint"
    assert orjson.loads(rows[2]["value"])["payload"] == {"chat_id": "c1"}
    assert orjson.loads(rows[3]["value"])["command"] == "erase_customer"
    assert rows[4]["offset"] == -1 and "customer erased" in rows[4]["reason"]
    assert rows[5]["reason"] == "unreadable dead-letter record"
    assert [(r["deadletter_partition"], r["deadletter_offset"]) for r in rows] == [
        (1, 0), (1, 1), (1, 2), (1, 3), (2, 7), (2, 8)]  # fmt: skip
    assert rows[0]["failed_at"] == datetime.fromtimestamp(1_772_000_000, UTC)


def test_merge_history_rows_say_who_and_why_and_older_merges_still_project() -> None:
    pipeline = Pipeline()
    pipeline.send([
        envelope("chat.started", "2026-02-01T10:00:00Z", {"email": "h1@x.io"}, chat_id="c1"),
        envelope("chat.started", "2026-02-02T10:00:00Z", {"phone": "+14155550177"}, chat_id="c2"),
    ])  # fmt: skip
    a, b = (body["customer_id"] for body in pipeline.bodies(RESOLVED))
    pipeline.command(merge_command(T, a, b, "same caller", "supervisor:k9", "name_postal", 0.9))
    pipeline.command(detach_command(T, "phone", "+14155550177", "not the same person"))
    records = pipeline.records(CUSTOMERS)
    history = customer_rows(records)["customer_merges"].to_pylist()
    merged, detached = sorted(history, key=lambda r: r["action"], reverse=True)
    assert (merged["customer_id"], merged["other_id"], merged["basis"]) == (a, b, "suggestion")
    assert (merged["requested_by"], merged["reason"], merged["score"]) == ("supervisor:k9",
                                                                        "same caller", 0.9)  # fmt: skip
    assert (detached["customer_id"], detached["kind"]) == (a, "phone")
    # a merge recorded before merges carried who decided: the identity rules', by its reason
    old = next(orjson.loads(r.value) for r in records if b"CustomersMerged" in r.value)
    del old["data"]["decided"]
    older = SourceRecord(CUSTOMERS, 1, 0, b"k", orjson.dumps(old), 1_772_000_000_000)
    [row] = customer_rows([older])["customer_merges"].to_pylist()
    assert (row["basis"], row["requested_by"], row["score"]) == ("identifier", "", None)
