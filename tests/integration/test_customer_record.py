"""The customer record over the real pipeline: profile, consent and name search as an agent reads them.

Profile events from two sources, and consent, unsubscribe and bounce events, are published
(sealed, as ingest would) in a shuffled order to a running worker and projector; the agent
API's profile and consent must equal what the folds in ``projections.profiles`` and
``projections.consents`` compute from the same set of events (the oracle), and the analyst
views must say the same. Names are found by kanji, kana and romaji.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES, SEGMENTS, TOUCHPOINTS
from projections.consents import ContactEvent, consent_state
from projections.profiles import Precedence, ProfileEvent, nested, profile_state
from services.kafka.lag import group_lag
from services.platform.settings import Settings
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from tests.support import (
    TOUCHLINE,
    base_env,
    cli,
    free_port,
    random_tenant,
    start_group_at_end,
    stop_processes,
    wait_until,
)

pytestmark = pytest.mark.integration

EMAIL, PHONE = "hanako.yamada@example.jp", "+81 90-1234-5678"
PRECEDENCE = "import:*"


def _event(
    type_: str, day: int, source: str, payload: dict[str, Any], **ids: str
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": 1,
        "occurred_at": f"2026-05-{day:02d}T09:00:00.000Z",
        "source": source,
        "identities": ids or {"email": EMAIL},
        "payload": payload,
    }


def _events() -> list[dict[str, Any]]:
    crm, web = "import:crm.csv", "web-form"
    return [
        _event("customer.profile_updated", 1, crm,
               {"name": {"family": "山田", "given": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ"},
                "emails": [EMAIL], "phones": [PHONE], "birthday": "1980-01-02",
                "address": {"postal_code": "100-0001", "region": "東京都", "city": "千代田区",
                            "line1": "千代田1-1", "country": "JP"}},
               email=EMAIL, phone=PHONE),
        _event("customer.profile_updated", 6, web,
               {"name": {"given": "はなこ"}, "company": "山田商店", "preferred_language": "ja"}),
        _event("customer.profile_updated", 3, crm, {"address": {"city": "港区"}, "birthday": None},
               phone=PHONE),
        _event("customer.profile_updated", 2, web, {"company": "旧商店"}),
        _event("consent.granted", 1, crm, {"channel": "email", "purpose": "marketing",
                                           "proof": {"text": "メールマガジンを希望する"}}),
        _event("consent.granted", 2, web, {"channel": "sms", "purpose": "service"}, phone=PHONE),
        _event("consent.withdrawn", 4, web, {"channel": "sms", "purpose": "service"}, phone=PHONE),
        _event("email.unsubscribed", 5, "esp", {"message_id": "m-1", "campaign_id": "spring"}),
        _event("email.bounced", 7, "esp", {"message_id": "m-2", "bounce_type": "hard", "reason": "550"}),
    ]  # fmt: skip


@dataclass
class Record:
    url: str
    tenant: str
    tokens: dict[str, str]
    events: list[dict[str, Any]]
    data: Path
    publish: Callable[[list[dict[str, Any]]], None]

    def get(self, path: str, role: str = "supervisor", **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=30,
                             headers={"Authorization": f"Bearer {self.tokens[role]}"})  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def record(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Record]:
    data: Path = tmp_path_factory.mktemp("record")
    tenant, port = random_tenant(), free_port()
    workers, projectors = f"record-w-{tenant}", f"record-p-{tenant}"
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_WORKER_GROUP=workers,
                   TOUCHLINE_PROJECTOR_GROUP=projectors, TOUCHLINE_QUERY_PORT=str(port),
                   TOUCHLINE_PROFILE_SOURCE_PRECEDENCE=PRECEDENCE)  # fmt: skip
    tokens = {role: cli(env, "keys", "create", "--tenant", tenant, "--role", role).stdout.strip()
              for role in ("agent", "supervisor", "analyst")}  # fmt: skip
    asyncio.run(start_group_at_end(kafka_bootstrap, workers, [TOUCHPOINTS, RESOLVED]))
    asyncio.run(
        start_group_at_end(
            kafka_bootstrap, projectors, [RESOLVED, CUSTOMERS, SCORES, DEADLETTER, SEGMENTS]
        )
    )
    events = _events()
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)

    def publish(events: list[dict[str, Any]]) -> None:
        summary = PublishSummary()
        lines = [Line(i, {**e, "tenant": tenant}) for i, e in enumerate(events, 1)]
        asyncio.run(publish_kafka(lines, kafka_bootstrap, tenant, "JP", summary,
                                  settings=Settings.from_env(env)))  # fmt: skip
        assert summary.accepted == len(events), summary

    publish(shuffled)
    processes = []
    for command in (["worker", "--loglevel", "warning"], ["projector"]):
        with (data / f"{command[0]}.log").open("ab") as log:
            processes.append(subprocess.Popen([TOUCHLINE, *command], env=env, stdout=log,
                                              stderr=subprocess.STDOUT))  # fmt: skip
    try:
        handle = Record(f"http://127.0.0.1:{port}", tenant, tokens, events, data, publish)

        def projected() -> bool:
            try:
                found = handle.get("/v1/customers", query=EMAIL)["results"]
                if not found:
                    return False
                timeline = handle.get(f"/v1/customers/{found[0]['customer_id']}/timeline",
                                      limit=100)  # fmt: skip
            except (httpx.HTTPError, AssertionError):
                return False
            return len(timeline["entries"]) == len(events)

        wait_until(projected, 240, "the events on the agent API", 1.0)
        topics = [TOUCHPOINTS, RESOLVED]
        wait_until(lambda: asyncio.run(group_lag(kafka_bootstrap, workers, topics)) == 0, 60,
                   "the worker to finish", 0.5)  # fmt: skip
        yield handle
    finally:
        stop_processes(processes)


def _customer(record: Record) -> dict[str, Any]:
    [hit] = record.get("/v1/customers", query=EMAIL)["results"]
    return dict(record.get(f"/v1/customers/{hit['customer_id']}"))


def test_the_profile_is_what_the_oracle_computes_from_the_set_of_events(record: Record) -> None:
    oracle = nested(profile_state(
        [ProfileEvent(e["event_id"], e["occurred_at"], e["source"], e["payload"])
         for e in record.events if e["type"] == "customer.profile_updated"],
        Precedence.parse(PRECEDENCE),
    ))  # fmt: skip
    customer = _customer(record)
    assert customer["profile"] == oracle
    # spelled out: the CRM's given name beats the later web form's; its later city replaces
    # the city alone; its null cleared the birthday; the web form's later company stands
    assert customer["profile"]["name"]["given"] == "花子"
    assert customer["profile"]["address"]["city"] == "港区"
    assert customer["profile"]["address"]["line1"] == "千代田1-1"
    assert "birthday" not in customer["profile"]
    assert customer["profile"]["company"] == "山田商店"
    assert customer["name"] == "山田 花子"
    assert customer["profile_sources"]["name.given"]["source"] == "import:crm.csv"


def test_consent_is_what_the_oracle_computes_and_explicit(record: Record) -> None:
    events = [ContactEvent(e["type"], e["event_id"], e["occurred_at"], e["source"], e["payload"],
                           e["identities"].get("email"))
              for e in record.events]  # fmt: skip
    oracle = consent_state(events)
    customer = _customer(record)
    assert customer["consent"] == oracle
    assert customer["consent"]["email"]["marketing"]["state"] == "withdrawn"  # the unsubscribe
    assert customer["consent"]["sms"]["service"]["state"] == "withdrawn"
    assert customer["consent"]["post"]["marketing"] == {"state": "unknown"}
    assert [u["address"] for u in customer["undeliverable"]] == [EMAIL]


def test_the_analyst_views_say_the_same(record: Record) -> None:
    customer = _customer(record)

    def sql(query: str) -> list[list[Any]]:
        response = httpx.post(record.url + "/v1/sql", json={"query": query}, timeout=30,
                              headers={"Authorization": f"Bearer {record.tokens['analyst']}"})  # fmt: skip
        assert response.status_code == 200, response.text
        return list(response.json()["rows"])

    states = sql(f"SELECT channel, purpose, state FROM consent_state "
                 f"WHERE customer_id = '{customer['customer_id']}' ORDER BY channel, purpose")  # fmt: skip
    assert len(states) == 21
    assert {(c, p): s for c, p, s in states} == {
        (c, p): entry["state"] for c, purposes in customer["consent"].items()
        for p, entry in purposes.items()
    }  # fmt: skip
    fields = dict(
        sql(f"SELECT field, value FROM profiles WHERE customer_id = '{customer['customer_id']}'")
    )
    assert fields["name.given"] == '"花子"' and fields["address.city"] == '"港区"'
    assert "birthday" not in fields


def test_a_name_is_found_by_kanji_kana_and_romaji(record: Record) -> None:
    customer_id = _customer(record)["customer_id"]
    for typed in (
        "山田花子",
        "山田 花子",
        "ヤマダ ハナコ",
        "やまだはなこ",
        "Hanako Yamada",
        "yamada",
    ):
        results = record.get("/v1/customers", role="agent", query=typed)["results"]
        assert [r["customer_id"] for r in results] == [customer_id], typed
        assert results[0]["name"] == "山田 花子" and results[0]["last_contact"]
    assert record.get("/v1/customers", query="佐藤花子")["results"] == []


def test_an_agent_reads_the_name_but_not_the_contact_details(record: Record) -> None:
    [hit] = record.get("/v1/customers", role="agent", query=EMAIL)["results"]
    masked = record.get(f"/v1/customers/{hit['customer_id']}", role="agent")
    assert masked["name"] == "山田 花子"
    assert masked["profile"]["emails"] == ["h***@example.jp"]
    assert masked["profile"]["address"]["city"] == "港区"
    assert "千代田1-1" not in str(masked) and EMAIL not in str(masked)


def test_another_tenants_analyst_reads_none_of_it(record: Record, tmp_path: Path) -> None:
    env = base_env("127.0.0.1:1", TOUCHLINE_DATA_DIR=str(Path(record.data)))
    other = cli(
        env, "keys", "create", "--tenant", random_tenant(), "--role", "analyst"
    ).stdout.strip()
    for table in ("profiles", "profile_fields", "consent_state", "customer_survivors"):
        response = httpx.post(record.url + "/v1/sql", json={"query": f"SELECT count() FROM {table}"},
                              headers={"Authorization": f"Bearer {other}"}, timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.json()["rows"] == [[0]], table


def test_a_segment_made_with_the_cli_shows_on_the_agents_profile(
    record: Record, kafka_bootstrap: str
) -> None:
    """The running projection service: ``touchline segments`` creates, the refresher
    evaluates and publishes, the projector projects, the agent's profile lists it."""
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(record.data),
                   TOUCHLINE_QUERY_PORT=record.url.rsplit(":", 1)[1],
                   TOUCHLINE_API_KEY=record.tokens["analyst"])  # fmt: skip
    rule = json.dumps({"profile": "name.family", "op": "exists"})
    created = json.loads(cli(env, "segments", "create", "named", "--rule", rule).stdout)
    assert created["version"] == 1 and created["conditions"][0]["path"] == "$"
    [hit] = record.get("/v1/customers", role="agent", query=EMAIL)["results"]

    def listed() -> bool:
        found = record.get(f"/v1/customers/{hit['customer_id']}", role="agent")["segments"]
        return [s["name"] for s in found] == ["named"]

    wait_until(listed, 60, "the segment on the agent's profile")
    export = cli(env, "segments", "export", "named", "--channel", "email", "--purpose",
                 "marketing", "--format", "jsonl")  # fmt: skip
    exported = [json.loads(line) for line in export.stdout.splitlines()]
    assert f"exported {len(exported)}; excluded" in export.stderr
    bad = cli(env, "segments", "create", "bad", "--rule", '{"all": []}', check=False)
    assert bad.returncode == 2 and "at $.rule.all" in bad.stderr
    agent = cli(
        {**env, "TOUCHLINE_API_KEY": record.tokens["agent"]}, "segments", "list", check=False
    )
    assert agent.returncode == 2 and "403" in agent.stderr


def test_a_master_rows_listed_email_and_phone_join_the_customers_they_had_apart(
    record: Record,
) -> None:
    """Her work email found the chats and her mobile the calls; the CRM row lists both."""
    home, work, mobile = "ken@example.jp", "ken.work@example.org", "+81 80-2222-3333"

    def found(query: str) -> set[str]:
        try:
            hits = record.get("/v1/customers", query=query)["results"]
        except (httpx.HTTPError, AssertionError):
            return set()
        return {hit["customer_id"] for hit in hits}

    chat = _event("chat.message_received", 8, "chat-widget", {"chat_id": "k-1", "text": "hi"},
                  email=work)  # fmt: skip
    call = _event("call.completed", 8, "pbx", {"call_id": "k-2", "direction": "inbound",
                                                "duration_s": 30, "disposition": "resolved"}, phone=mobile)  # fmt: skip
    record.publish([chat, call])
    wait_until(lambda: len(found(work) | found(mobile)) == 2, 120, "two customers apart", 0.5)
    row = _event("customer.profile_updated", 9, "import:crm.csv",
                 {"name": {"display": "Ken Mori"}, "emails": [home, work], "phones": [mobile]},
                 customer_ref="K-7", email=home)  # fmt: skip
    record.publish([row])
    wait_until(lambda: len(found(work) | found(mobile) | found(home)) == 1, 120,
               "one customer for the three", 0.5)  # fmt: skip
    (customer,) = found(home)
    timeline = record.get(f"/v1/customers/{customer}/timeline", limit=10)
    assert {e["event_id"] for e in timeline["entries"]} == {
        chat["event_id"],
        call["event_id"],
        row["event_id"],
    }
