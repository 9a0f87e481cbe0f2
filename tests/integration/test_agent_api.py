"""The agent API over the real pipeline: the stream run projected, served by ``touchline projector``.

Search by every identifier kind and format, the 360 profile against the
oracle, the timeline (order, pagination while events arrive, filters,
aliases), tenant isolation, masking per role, bad parameters, the live
stream, and the audit of every read.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import phonenumbers
import pytest
from aiokafka import AIOKafkaProducer

from events.catalog import load_catalog
from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from projections.store import open_projection_store
from services.auth.keys import digest, new_key
from services.identity.resolver import IdentityResolver
from services.identity.store import eventsourcing_env
from services.kafka.lag import group_lag
from services.query.masking import mask_value
from tests import oracle
from tests.integration.pipeline import Run
from tests.support import TOUCHLINE, base_env, cli, free_port, random_tenant, wait_until

pytestmark = pytest.mark.integration


@dataclass
class Agents:
    run: Run
    url: str
    env: dict[str, str]
    bootstrap: str
    tokens: dict[tuple[str, str], str]  # (tenant, role) -> token
    process: subprocess.Popen[bytes]
    data: Path

    def get(
        self, path: str, tenant: str, role: str = "supervisor", **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[(tenant, role)]}"}
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)

    def ok(self, path: str, tenant: str, role: str = "supervisor", **params: Any) -> Any:
        response = self.get(path, tenant, role, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)


@pytest.fixture(scope="module")
def agents(
    pipeline_run: Run, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agents]:
    data = tmp_path_factory.mktemp("agents")
    port = free_port()
    group = f"agents-{random_tenant()}"
    env = base_env(kafka_bootstrap, **pipeline_run.key_env, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_PROJECTOR_GROUP=group,
                   TOUCHLINE_QUERY_PORT=str(port))  # fmt: skip
    tokens = {(tenant, role): cli(env, "keys", "create", "--tenant", tenant, "--role", role).stdout.strip()
              for tenant in [*pipeline_run.tenants, pipeline_run.live_tenant]
              for role in ("agent", "supervisor", "publisher", "analyst")}  # fmt: skip
    with (data / "projector.log").open("ab") as log:
        process = subprocess.Popen([TOUCHLINE, "projector"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    handle = Agents(
        pipeline_run, f"http://127.0.0.1:{port}", env, kafka_bootstrap, tokens, process, data
    )
    try:
        topics = [RESOLVED, CUSTOMERS, SCORES, DEADLETTER]
        wait_until(lambda: asyncio.run(group_lag(kafka_bootstrap, group, topics)) == 0, 240,
                   "the projector to catch up", 0.5)  # fmt: skip
        # the reads below are the serving index's (it was written beside the tables)
        wait_until(lambda: _index_state(handle) == "ready", 60, "the serving index", 0.2)
        yield handle
    finally:
        handle.stop()


def _index_state(agents: Agents) -> str:
    health = httpx.get(f"{agents.url}/healthz", timeout=10)
    return str(health.json()["serving_index"]["state"]) if health.status_code == 200 else ""


def _envelopes(agents: Agents, tenant: str) -> list[dict[str, Any]]:
    if tenant == agents.run.live_tenant:
        return agents.run.live or []
    return agents.run.tenants[tenant]


def _someone(agents: Agents, tenant: str, needs: tuple[str, ...]) -> tuple[frozenset[str], str]:
    """An oracle customer with identifiers of every kind in ``needs``, and its survivor id."""
    resolver = IdentityResolver(eventsourcing_env(agents.run.store_url))
    for group in sorted(
        oracle.expected_customers(_envelopes(agents, tenant)), key=len, reverse=True
    ):
        kinds = {key.split(":", 1)[0] for key in group}
        if set(needs) <= kinds:
            kind, value = next(iter(sorted(group))).split(":", 1)
            return group, str(
                resolver.customer_of(tenant, kind, agents.run.subject(tenant, kind, value))
            )
    raise AssertionError(f"no simulated customer has {needs}")


def _value(group: frozenset[str], kind: str) -> str:
    return sorted(key.split(":", 1)[1] for key in group if key.startswith(kind + ":"))[0]


def test_search_finds_a_customer_by_every_identifier_kind_and_format(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    group, customer = _someone(agents, tenant, ("email", "phone"))
    email, phone = _value(group, "email"), _value(group, "phone")
    national = phonenumbers.format_number(
        phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    queries = {customer: [email, email.upper(), f"  {email} ", phone, national]}
    for kind in ("loyalty_id", "customer_ref", "social"):
        other, owner = _someone(agents, tenant, (kind,))
        queries.setdefault(owner, []).append(_value(other, kind))
    for owner, texts in queries.items():
        for query in texts:
            body = agents.ok("/v1/customers", tenant, query=query)
            assert [r["customer_id"] for r in body["results"]][:1] == [owner], (query, body)
            assert body["results"][0]["match"] == "exact"
    prefix = agents.ok("/v1/customers", tenant, query=email.split("@")[0][:6])
    assert customer in [r["customer_id"] for r in prefix["results"]]
    # an agent reads emails masked: a prefix must not tell it the next character
    masked = agents.ok("/v1/customers", tenant, role="agent", query=email.split("@")[0][:6])
    assert masked["results"] == []
    whole = agents.ok("/v1/customers", tenant, role="agent", query=email)
    assert [r["customer_id"] for r in whole["results"]][:1] == [customer]
    assert agents.ok("/v1/customers", tenant, query="nobody-at-all@example.org")["results"] == []


def test_the_profile_matches_the_oracle(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    group, customer = _someone(agents, tenant, ("email", "phone"))
    body = agents.ok(f"/v1/customers/{customer}", tenant)
    expected: dict[str, list[str]] = {}
    for key in group:
        kind, value = key.split(":", 1)
        expected.setdefault(kind, []).append(value)
    assert {k: sorted(v) for k, v in body["identities"].items()} == {
        k: sorted(v) for k, v in expected.items()
    }
    facts = oracle.facts_for(group, agents.run.tenants[tenant])
    assert {ch: c["count"] for ch, c in body["channels"].items()} == dict(
        Counter(f["channel"] for f in facts)
    )
    latest = [s for s in agents.run.scores if s["customer_id"] == customer][-1]
    assert body["engagement"]["score"] == latest["engagement"]["score"]
    assert body["engagement"]["model_version"] == latest["model_version"]
    assert body["rfm"]["segment"] == latest["rfm"]["segment"]
    assert body["freshness"]["touchpoints"]["lag_records"] >= 0


def test_the_timeline_is_newest_first_and_reads_through_aliases(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    merges = [
        c
        for c in agents.run.customers
        if c["type"] == "MergedIntoSurvivor" and c["tenant"] == tenant
    ]
    alias = merges[0]["customer_id"]
    survivor = agents.ok(f"/v1/customers/{alias}", tenant)["customer_id"]
    assert survivor != alias
    page = agents.ok(f"/v1/customers/{alias}/timeline", tenant, limit=200)
    assert page["customer_id"] == survivor and page["requested_id"] == alias
    times = [e["occurred_at"] for e in page["entries"]]
    assert times == sorted(times, reverse=True)
    # UTC said explicitly (a browser reads a bare time as local), fixed width (sorts as text)
    assert all(len(t) == 24 and t.endswith("Z") for t in times), times[:3]
    assert alias in {
        e["recorded_under"] for e in page["entries"]
    }  # the alias's own events are there


def test_pagination_has_no_gaps_or_repeats_while_events_arrive(agents: Agents) -> None:
    tenant = (
        agents.run.live_tenant
    )  # events are appended: not tenant A or B, which other tests compare
    group, customer = _someone(agents, tenant, ("email",))
    expected = {f["event_id"] for f in oracle.facts_for(group, _envelopes(agents, tenant))}
    seen: list[str] = []
    page = agents.ok(f"/v1/customers/{customer}/timeline", tenant, limit=3)
    arrived = []
    while True:
        seen += [e["event_id"] for e in page["entries"]]
        arrived.append(_append_resolved(agents, tenant, customer))  # newer than everything shown
        if not page["next_cursor"]:
            break
        page = agents.ok(
            f"/v1/customers/{customer}/timeline", tenant, limit=3, cursor=page["next_cursor"]
        )
    assert len(seen) == len(set(seen)), "an entry was repeated"
    assert set(seen) == expected, "an entry was skipped"
    wait_until(lambda: set(arrived) <= {e["event_id"] for e in agents.ok(
        f"/v1/customers/{customer}/timeline", tenant, limit=200)["entries"]}, 30, "new events", 0.5)  # fmt: skip


def test_filters_by_channel_type_and_time(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    group, customer = _someone(agents, tenant, ("email", "phone"))
    facts = oracle.facts_for(group, agents.run.tenants[tenant])
    channel = Counter(f["channel"] for f in facts).most_common(1)[0][0]
    only = agents.ok(f"/v1/customers/{customer}/timeline", tenant, limit=200, channel=channel)
    assert {e["channel"] for e in only["entries"]} == {channel}
    assert len(only["entries"]) == sum(1 for f in facts if f["channel"] == channel)
    kind = facts[0]["type"]
    typed = agents.ok(f"/v1/customers/{customer}/timeline", tenant, limit=200, type=kind)
    assert {e["type"] for e in typed["entries"]} == {kind}
    middle = sorted(f["occurred_at"] for f in facts)[len(facts) // 2]
    recent = agents.ok(f"/v1/customers/{customer}/timeline", tenant, limit=200, since=middle)
    # as instants: the API writes 09:00:00 for 09:00:00.000, and strings would compare wrongly
    assert all(_instant(e["occurred_at"]) >= _instant(middle) for e in recent["entries"])
    assert 0 < len(recent["entries"]) < len(facts)


def _instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def test_another_tenants_customer_is_not_found(agents: Agents) -> None:
    a, b = list(agents.run.tenants)
    group, customer = _someone(agents, a, ("email",))
    for path in (f"/v1/customers/{customer}", f"/v1/customers/{customer}/timeline"):
        refused = agents.get(path, b)
        assert refused.status_code == 404 and customer not in refused.text.replace(
            f"no customer {customer}", ""
        )
    found = agents.ok("/v1/customers", b, query=_value(group, "email"))
    assert customer not in [
        r["customer_id"] for r in found["results"]
    ]  # B's own copy is another id


def test_roles_see_masked_or_full_identifiers(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    group, customer = _someone(agents, tenant, ("email", "phone"))
    email, phone = _value(group, "email"), _value(group, "phone")
    masked = agents.ok(f"/v1/customers/{customer}", tenant, role="agent")["identities"]
    full = agents.ok(f"/v1/customers/{customer}", tenant, role="supervisor")["identities"]
    assert email in full["email"] and phone in full["phone"]
    assert email not in masked["email"] and masked["email"][0].startswith(email[0] + "***@")
    assert phone not in masked["phone"] and masked["phone"][0].endswith(phone[-4:])
    publisher = agents.get(f"/v1/customers/{customer}", tenant, role="publisher")
    assert publisher.status_code == 403
    assert httpx.get(f"{agents.url}/v1/customers/{customer}").status_code == 401


def test_timeline_payloads_are_masked_for_agents_on_every_page(agents: Agents) -> None:
    """Payload fields marked ``x-pii`` read masked for an agent and in full for a supervisor,
    on a first page (kept as JSON) and on the pages a cursor reads after it."""
    tenant = next(iter(agents.run.tenants))
    catalog = load_catalog()

    def personal(entry: dict[str, Any]) -> list[tuple[str, Any]]:
        found = catalog.get(entry["type"])
        assert found is not None
        paths = [
            p.removeprefix("/payload/").split("/")
            for p in found.pii_pointers(entry["schema_version"])
        ]
        values = [(path[-1], _at(entry["payload"], path)) for path in paths]
        return [(name, value) for name, value in values if value is not None]

    for group in oracle.expected_customers(agents.run.tenants[tenant]):
        value = next(iter(sorted(group))).split(":", 1)[1]
        customer = agents.ok("/v1/customers", tenant, query=value)["results"][0]["customer_id"]
        full = agents.ok(f"/v1/customers/{customer}/timeline", tenant, limit=200)["entries"]
        if sum(1 for e in full if personal(e)) >= 2:
            break
    else:
        raise AssertionError("no simulated customer has two entries with personal data")
    masked: list[dict[str, Any]] = []
    page = agents.ok(f"/v1/customers/{customer}/timeline", tenant, role="agent", limit=4)
    while True:
        masked += page["entries"]
        if not page["next_cursor"]:
            break
        page = agents.ok(f"/v1/customers/{customer}/timeline", tenant, role="agent", limit=4,
                         cursor=page["next_cursor"])  # fmt: skip
    assert [e["event_id"] for e in masked] == [e["event_id"] for e in full]
    for shown, whole in zip(masked, full, strict=True):
        secrets = personal(whole)
        assert [(n, mask_value(n, str(v))) for n, v in secrets] == personal(shown)
        assert all(mask_value(n, str(v)) != v for n, v in secrets)
        if not secrets:
            assert shown == whole


def _at(doc: Any, path: list[str]) -> Any:
    for name in path:
        if not isinstance(doc, dict) or name not in doc:
            return None
        doc = doc[name]
    return doc


def test_bad_parameters_get_400_with_a_message(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    _, customer = _someone(agents, tenant, ("email",))
    cases = [
        (f"/v1/customers/{customer}/timeline", {"cursor": "not-a-cursor"}, "cursor"),
        (f"/v1/customers/{customer}/timeline", {"channel": "pigeon"}, "channel"),
        (f"/v1/customers/{customer}/timeline", {"type": "call.teleported"}, "type"),
        (f"/v1/customers/{customer}/timeline", {"since": "yesterday"}, "since"),
        (f"/v1/customers/{customer}/timeline", {"limit": "0"}, "limit"),
        (f"/v1/customers/{customer}/timeline", {"limit": "201"}, "limit"),
        (f"/v1/customers/{customer}/timeline", {"limit": "many"}, "limit"),
        ("/v1/customers/not-an-id", {}, "customer_id"),
        ("/v1/customers", {}, "query"),
    ]
    for path, params, where in cases:
        response = agents.get(path, tenant, **params)
        assert response.status_code == 400, (path, params, response.text)
        error = response.json()["error"]
        assert error["message"] and where in error.get("where", ""), (path, error)


def test_the_timeline_parameters_are_documented(agents: Agents) -> None:
    """The timeline reads its query by hand (for speed): its OpenAPI entry still lists it."""
    spec = httpx.get(f"{agents.url}/openapi.json", timeout=10).json()
    documented = spec["paths"]["/v1/customers/{customer_id}/timeline"]["get"]["parameters"]
    names = {p["name"]: p for p in documented}
    assert {"customer_id", "cursor", "limit", "channel", "type", "since", "until"} <= set(names)
    assert names["limit"]["schema"]["maximum"] == 200
    assert "phone" in names["channel"]["schema"]["items"]["enum"]


def test_the_stream_pushes_a_new_entry(agents: Agents) -> None:
    tenant = agents.run.live_tenant
    _, customer = _someone(agents, tenant, ("email",))
    received: list[dict[str, Any]] = []
    token = agents.tokens[(tenant, "agent")]

    def listen() -> None:
        with httpx.stream("GET", f"{agents.url}/v1/customers/{customer}/stream", params={"token": token},
                          timeout=30) as response:  # fmt: skip
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "touchpoint":
                    received.append(orjson.loads(line.removeprefix("data: ")))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    wait_until(lambda: httpx.get(agents.url + "/healthz", timeout=10).json()["streams_waiting_on"] > 0,
               10, "the stream to wait on its customer", 0.1)  # fmt: skip
    sent = time.monotonic()
    event_id = _append_resolved(agents, tenant, customer)
    listener.join(20)
    assert [e["event_id"] for e in received] == [event_id]
    # pushed when the projector wrote it, not found by the stream's 15 s safety-net read
    assert time.monotonic() - sent < 10


def test_a_stream_ends_within_5_s_of_its_key_being_revoked(agents: Agents) -> None:
    tenant = agents.run.live_tenant
    _, customer = _someone(agents, tenant, ("email",))
    token = cli(agents.env, "keys", "create", "--tenant", tenant, "--role", "agent").stdout.strip()
    events: list[str] = []
    ended: list[float] = []

    def listen() -> None:
        with httpx.stream("GET", f"{agents.url}/v1/customers/{customer}/stream",
                          params={"token": token}, timeout=60) as response:  # fmt: skip
            for line in response.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
        ended.append(time.monotonic())

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    wait_until(lambda: httpx.get(agents.url + "/healthz", timeout=10).json()["streams_waiting_on"] > 0,
               10, "the stream to wait on its customer", 0.1)  # fmt: skip
    time.sleep(1.0)
    cli(agents.env, "keys", "revoke", token)
    revoked = time.monotonic()
    listener.join(30)
    assert ended and ended[0] - revoked <= 5.0, "the stream outlived its key"
    assert events[-1:] == ["revoked"]
    again = httpx.get(f"{agents.url}/v1/customers/{customer}/stream", params={"token": token})
    assert again.status_code == 401


def test_a_timeline_read_again_comes_from_memory_until_the_projector_writes(
    agents: Agents,
) -> None:
    tenant = agents.run.live_tenant
    _, customer = _someone(agents, tenant, ("email",))
    path = f"/v1/customers/{customer}/timeline"

    def cache() -> dict[str, int]:
        found: dict[str, int] = httpx.get(agents.url + "/healthz", timeout=10).json()["cache"]
        return found

    first = agents.ok(path, tenant)
    before = cache()
    again = agents.ok(path, tenant)
    assert cache()["hits"] >= before["hits"] + 2  # the resolution and the head
    assert again["entries"] == first["entries"]
    emails = [e for e in first["entries"] if e["channel"] == "email"]
    chip = agents.ok(path, tenant, channel="email")  # the head filtered, or the store
    assert chip["entries"][: len(emails)] == emails
    event_id = _append_resolved(agents, tenant, customer)
    wait_until(lambda: agents.ok(path, tenant)["entries"][0]["event_id"] == event_id, 30,
               "the new event on the first page", 0.2)  # fmt: skip


def test_a_replay_on_the_running_service_keeps_reads_going(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    _, customer = _someone(agents, tenant, ("email",))
    operator = cli(agents.env, "keys", "create", "--role", "operator").stdout.strip()
    headers = {"Authorization": f"Bearer {operator}"}
    before = httpx.get(
        f"{agents.url}/v1/admin/checksum/touchpoints", headers=headers, timeout=60
    ).json()
    assert agents.get("/v1/admin/checksum/touchpoints", tenant).status_code == 403  # supervisors
    replaying = subprocess.Popen([TOUCHLINE, "replay", "touchpoints", "--key", operator], env=agents.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    reads = []
    while replaying.poll() is None:  # the store is the service's: the CLI asks it, and reads go on
        reads.append(agents.get(f"/v1/customers/{customer}/timeline", tenant, limit=20).status_code)
        time.sleep(0.2)
    out, err = replaying.communicate()
    assert replaying.returncode == 0, err[-2000:]
    assert reads and set(reads) == {200}
    after = httpx.get(
        f"{agents.url}/v1/admin/checksum/touchpoints", headers=headers, timeout=60
    ).json()
    assert after == before and before["rows"] > 0
    assert f"checksum {before['checksum']}" in out


def test_only_a_platform_operator_may_touch_every_tenants_projections(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    refused = cli(agents.env, "keys", "create", "--tenant", tenant, "--role", "operator",
                  check=False)  # fmt: skip
    assert refused.returncode == 2 and "no --tenant" in refused.stderr
    legacy = _legacy_tenant_operator_key(agents, tenant)  # as keys were made before
    for method, path in [("GET", "/v1/admin/checksum/touchpoints"),
                         ("POST", "/v1/admin/replay/touchpoints"),
                         ("GET", "/v1/admin/replay/touchpoints")]:  # fmt: skip
        answer = httpx.request(method, agents.url + path, timeout=30,
                               headers={"Authorization": f"Bearer {legacy}"})  # fmt: skip
        assert answer.status_code == 403, (path, answer.text)
        assert "every tenant" in answer.json()["error"]["message"]


def _legacy_tenant_operator_key(agents: Agents, tenant: str) -> str:
    """An operator key scoped to one tenant, written as the key store wrote them before."""
    key = new_key("operator")
    with sqlite3.connect(agents.data / "keys.sqlite3") as db:
        db.execute("INSERT INTO api_keys (digest, key_id, tenant, role, types, created_at) "
                   "VALUES (?, ?, ?, 'operator', '', 0)", (digest(key), digest(key)[:12], tenant))  # fmt: skip
    return key


def _sql(agents: Agents, tenant: str | None, query: str, role: str = "analyst",
         **headers: str) -> httpx.Response:  # fmt: skip
    if tenant is not None:
        headers["Authorization"] = f"Bearer {agents.tokens[(tenant, role)]}"
    return httpx.post(f"{agents.url}/v1/sql", json={"query": query}, headers=headers, timeout=60)


def test_analyst_sql_runs_on_the_service_as_the_keys_tenant(agents: Agents) -> None:
    tenant, other = list(agents.run.tenants)[:2]
    answer = _sql(agents, tenant, "SELECT tenant, count() AS n FROM touchpoints GROUP BY tenant")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [c["name"] for c in body["columns"]] == ["tenant", "n"]
    assert [row[0] for row in body["rows"]] == [tenant] and body["rows"][0][1] > 0
    leak = _sql(agents, tenant, f"SELECT count() FROM touchpoints WHERE tenant = '{other}'")
    assert leak.status_code == 200 and leak.json()["rows"] == [[0]]
    csv = _sql(agents, tenant, "SELECT tenant FROM touchpoints LIMIT 2", accept="text/csv")
    assert csv.status_code == 200 and csv.text.splitlines() == ["tenant", tenant, tenant]


def test_analyst_sql_refuses_what_it_must_and_says_why(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    cases = [
        ("SELECT tenant, identities FROM merge('^touchpoints$')", 400, "table_function"),
        ("SELECT name FROM `system`.tables", 400, "qualified_table"),
        ("SELECT sum(cityHash64(number)) FROM numbers(1e11)", 400, "table_function"),
        ("SELECT 1; DROP TABLE touchpoints", 400, "multiple_statements"),
        ("SELECT * FROM audit_queries", 400, "unknown_table"),
    ]
    for query, status, code in cases:
        answer = _sql(agents, tenant, query)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), query
    assert _sql(agents, None, "SELECT 1").status_code == 401
    assert _sql(agents, tenant, "SELECT 1", role="supervisor").status_code == 403


def test_a_supervisor_exports_everything_held_about_a_person(agents: Agents) -> None:
    tenant, other = list(agents.run.tenants)[:2]
    group, customer = _someone(agents, tenant, ("email", "phone"))
    document = agents.ok(f"/v1/customers/{customer}/export", tenant)
    facts = oracle.facts_for(group, agents.run.tenants[tenant])
    assert document["customer_id"] == customer and document["tenant"] == tenant
    assert sorted(f"{i['kind']}:{i['value']}" for i in document["identities"]) == sorted(group)
    assert sorted(e["event_id"] for e in document["timeline"]) == sorted(
        f["event_id"] for f in facts
    )  # the whole timeline, not a page
    latest = [s for s in agents.run.scores if s["customer_id"] == customer][-1]
    assert document["scores"]["engagement"][-1]["score"] == latest["engagement"]["score"]
    assert document["profile"]["identities"]  # unmasked: an access request is answered in full
    assert set(document) >= {"consent", "merges", "erasures", "scores", "timeline"}

    by_cli = cli(agents.env, "identity", "export", "--key", agents.tokens[(tenant, "supervisor")],
                 "--kind", "email", "--value", _value(group, "email").upper())  # fmt: skip
    assert orjson.loads(by_cli.stdout)["customer_id"] == customer  # asked the running service

    assert agents.get(f"/v1/customers/{customer}/export", tenant, role="agent").status_code == 403
    assert agents.get(f"/v1/customers/{customer}/export", other).status_code == 404
    refused = cli(agents.env, "identity", "export", "--key", agents.tokens[(tenant, "agent")],
                  "--customer", customer, check=False)  # fmt: skip
    assert refused.returncode == 2 and "403" in refused.stderr and not refused.stdout


def test_every_read_is_audited(agents: Agents) -> None:
    tenant = next(iter(agents.run.tenants))
    _, customer = _someone(agents, tenant, ("email",))
    agents.ok(f"/v1/customers/{customer}/export", tenant)
    agents.ok(f"/v1/customers/{customer}", tenant, role="agent")
    agents.ok(f"/v1/customers/{customer}/timeline", tenant, role="agent")
    # no wait: what the audit log buffered (it writes every 5 s) is written as the service stops
    agents.stop()  # the chDB directory opens in one process: read it once the service is down
    store = open_projection_store(f"chdb:///{agents.data.resolve()}/clickhouse")
    try:
        rows = store.query_rows(
            "SELECT what, role, key_id FROM audit_reads WHERE tenant = {t:String} AND customer_id = {c:UUID}",
            {"t": tenant, "c": customer},
        )
    finally:
        store.close()
    whats = Counter((what, role) for what, role, _ in rows)
    assert whats[("profile", "agent")] >= 1 and whats[("timeline", "agent")] >= 1
    assert whats[("export", "supervisor")] >= 1
    assert all(len(key_id) == 12 for *_, key_id in rows)  # the token's id, never the token
    store = open_projection_store(f"chdb:///{agents.data.resolve()}/clickhouse")
    try:
        queries = store.query_rows("SELECT outcome, detail, query FROM audit_queries "
                                   "WHERE tenant = {t:String} AND what = 'sql'", {"t": tenant})  # fmt: skip
    finally:
        store.close()
    outcomes = Counter((outcome, detail) for outcome, detail, _ in queries)
    assert outcomes[("ok", "")] >= 3 and outcomes[("refused", "table_function")] >= 2
    assert any("merge('^touchpoints$')" in query for *_, query in queries)


def _append_resolved(agents: Agents, tenant: str, customer: str) -> str:
    """A new resolved touchpoint for ``customer``, as the worker would write it (now, on email)."""
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    body = {"event_id": event_id, "tenant": tenant, "type": "email.opened", "schema_version": 1,
            "occurred_at": now.isoformat().replace("+00:00", "Z"),
            "received_at": (now + timedelta(milliseconds=5)).isoformat().replace("+00:00", "Z"),
            "source": "test", "channel": "email", "identities": {},
            "payload": {"campaign_id": "c-live", "campaign_name": "Live", "message_id": event_id},
            "customer_id": customer, "identity_flags": []}  # fmt: skip

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=agents.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                RESOLVED, orjson.dumps(body), key=f"{tenant}|{customer}".encode()
            )
        finally:
            await producer.stop()

    asyncio.run(send())
    return event_id
