"""After an erasure, no byte the system holds gives the person back, and a replay does not either.

One person's events on every channel (each identifier kind, each personal
payload field, with values found nowhere else) go in through ingest, are read
by an agent, a supervisor's export and an analyst's query, and the person is
erased. With the system stopped, every file under its data directory (Kafka's
segments with their compressed batches, ClickHouse's column files decoded, the
identity, key and serving-index databases, every log) and its console output
are searched for each value: none may be there. A replay of the timeline
projection afterwards must not bring one back.

The scan is shown to see what it looks for: before the erasure it finds the
values in ClickHouse (the projections hold them in clear), and a non-personal
marker in Kafka's segments, after the erasure too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pii_scan import hits
from tests.support import JAR_CACHE, REPO, free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
MARK = "zq7781"
EMAIL = f"{MARK}.mika@scan.example"
PHONE = "+14155557781"
PERSONAL = {
    "email": EMAIL,
    "phone": PHONE,
    "phone (national digits)": "4155557781",
    "loyalty_id": f"LOY-{MARK}",
    "device_id": f"dev-{MARK}",
    "customer_ref": f"CRM-{MARK}",
    "social": f"{MARK}_handle",
    "call notes": f"notes {MARK} allergic to cats",
    "chat text": f"chat {MARK} my card ends 4242",
    "email reply": f"reply {MARK} please call back",
    "sms text": f"sms {MARK} running late",
    "dm text": f"dm {MARK} where is my parcel",
    "form field": f"form {MARK} 3-chome",
    "family name": "森田七七八一",
    "given kana": "ナナハチイチ",
    "postal code": "778-1781",
    "city": f"city{MARK}",
    "birthday": "1977-08-01",
    "consent ip": "203.0.113.178",
    "voicemail": f"voicemail {MARK} call me",
}
#: not personal: stays in the log (only personal fields are shredded) and shows the scan reads it
PLAIN = f"store-{MARK}-plain"
TENANT = "scan"


@dataclass
class System:
    process: subprocess.Popen[bytes]
    data: Path
    out: Path
    env: dict[str, str]
    ingest: str
    query: str
    publisher: str
    supervisor: str
    analyst: str

    def publish(self, events: list[dict[str, Any]]) -> None:
        answer = httpx.post(f"{self.ingest}/v1/events", json=events, timeout=30,
                            headers={"Authorization": f"Bearer {self.publisher}"})  # fmt: skip
        assert answer.status_code == 202, answer.text

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.supervisor}"}
        return httpx.get(self.query + path, params=params, headers=headers, timeout=30)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _cli(self.env, *args)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(120)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data = tmp_path_factory.mktemp("pii") / "data"
    kafka, http, query = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
    env |= {"TOUCHLINE_DATA_DIR": str(data), "TOUCHLINE_CACHE_DIR": str(JAR_CACHE),
            "TOUCHLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
            "TOUCHLINE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "TOUCHLINE_HTTP_PORT": str(http), "TOUCHLINE_QUERY_PORT": str(query),
            "TOUCHLINE_WORKER_METRICS_PORT": "0"}  # fmt: skip
    out = data.parent / "up.out"
    with out.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "services.entrypoints.cli", "up", "--no-demo"],
                                   cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: "Ctrl-C" in out.read_text() or process.poll() is not None, 240,
                   "touchline up to print its banner", 0.5)  # fmt: skip
        assert process.poll() is None, out.read_text()[-4000:]
        keys = {role: _cli(env, "keys", "create", "--tenant", TENANT, "--role", role).stdout.strip()
                for role in ("publisher", "supervisor", "analyst")}  # fmt: skip
        yield System(process, data, out, env, f"http://127.0.0.1:{http}",
                     f"http://127.0.0.1:{query}", keys["publisher"], keys["supervisor"],
                     keys["analyst"])  # fmt: skip
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "services.entrypoints.cli", *args],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _events() -> list[dict[str, Any]]:
    """The person on every channel, all linked through her email (or phone)."""
    p = PERSONAL
    both = {"email": EMAIL, "phone": PHONE}

    def event(
        kind: str, identities: dict[str, str], payload: dict[str, Any], at: int
    ) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "type": kind, "schema_version": 1,
                "occurred_at": f"2026-11-{at:02d}T10:00:00Z", "source": "scan",
                "identities": identities, "payload": payload}  # fmt: skip

    return [
        event("customer.profile_updated", {**both, "customer_ref": p["customer_ref"]},
              {"name": {"family": p["family name"], "given": "七七八一", "given_kana": p["given kana"]},
               "address": {"country": "JP", "postal_code": p["postal code"], "city": p["city"]},
               "birthday": p["birthday"], "emails": [EMAIL], "phones": [PHONE]}, 1),
        event("consent.granted", {"email": EMAIL},
              {"channel": "email", "purpose": "marketing", "address": EMAIL,
               "proof": {"ip": p["consent ip"]}}, 2),
        event("call.completed", {"phone": PHONE},
              {"call_id": "c-scan", "direction": "inbound", "duration_s": 60, "agent": "Kato",
               "disposition": "resolved", "notes": p["call notes"]}, 3),
        event("chat.message_received", {"email": EMAIL}, {"chat_id": "ch-scan", "text": p["chat text"]}, 4),
        event("email.replied", {"email": EMAIL}, {"message_id": "m-scan", "text": p["email reply"]}, 5),
        event("sms.received", {"phone": PHONE},
              {"message_id": "s-scan", "from": PHONE, "to": "+14155550000", "text": p["sms text"]}, 6),
        event("social.dm_received", {"social": f"x:{p['social']}", "email": EMAIL},
              {"network": "x", "handle": p["social"], "text": p["dm text"]}, 7),
        event("form.submitted", {"email": EMAIL, "device_id": p["device_id"]},
              {"form_id": "f-scan", "fields": {"address": p["form field"]}}, 8),
        event("voicemail.left", {"phone": PHONE}, {"duration_s": 20, "transcript": p["voicemail"]}, 9),
        event("store.visited", {"loyalty_id": p["loyalty_id"], "phone": PHONE},
              {"store_id": PLAIN, "duration_s": 600}, 10),
        event("web.page_viewed", {"device_id": p["device_id"]}, {"url": "https://shop.example/cart"}, 11),
    ]  # fmt: skip


def _scan(system: System) -> list[tuple[str, str]]:
    return hits([system.data, system.out], [*PERSONAL.values(), PLAIN])


def test_an_erased_person_is_nowhere_in_what_the_system_holds(system: System) -> None:
    system.publish(_events())

    def profile() -> dict[str, Any] | None:
        found = system.get("/v1/customers", query=EMAIL).json().get("results", [])
        if not found:
            return None
        body: dict[str, Any] = system.get(f"/v1/customers/{found[0]['customer_id']}").json()
        timeline = system.get(f"/v1/customers/{found[0]['customer_id']}/timeline").json()
        return body if len(timeline.get("entries", [])) == 11 else None

    wait_until(lambda: profile() is not None, 180, "her 11 events on one timeline", 1.0)
    person = profile()
    assert person is not None
    customer = person["customer_id"]
    assert system.get(f"/v1/customers/{customer}/export").status_code == 200
    agent_token = system.cli("keys", "create", "--tenant", TENANT, "--role", "agent").stdout.strip()
    assert system.get("/v1/customers", token=agent_token, query=PHONE).status_code == 200
    asked = httpx.post(f"{system.query}/v1/sql", timeout=30,
                       headers={"Authorization": f"Bearer {system.analyst}"},
                       json={"query": f"SELECT count() FROM identities WHERE value = '{EMAIL}'"})  # fmt: skip
    assert asked.status_code == 200, asked.text
    _read_on_the_agent_page(system)

    before = _scan(system)
    in_clickhouse = {v for f, v in before if "/clickhouse/" in f}
    assert {EMAIL, PERSONAL["chat text"], PERSONAL["family name"]} <= in_clickhouse, before
    assert not [h for h in before if "/kafka/" in h[0] and h[1] != PLAIN], "sealed in the log"
    assert any("/kafka/" in f for f, v in before if v == PLAIN), "the scan reads Kafka segments"

    system.cli("identity", "erase", "--tenant", TENANT, "--kind", "email", "--value", EMAIL,
               "--reason", "data subject request (scan test)")  # fmt: skip
    wait_until(lambda: system.get(f"/v1/customers/{customer}").status_code == 410, 120,
               "the erasure to reach the agent API (410 Gone)", 1.0)  # fmt: skip
    assert system.get("/v1/customers", query=EMAIL).json()["results"] == []

    operator = system.cli("keys", "create", "--role", "operator").stdout.strip()
    replayed = system.cli("replay", "touchpoints", "--key", operator)  # on the running service
    assert "checksum" in replayed.stdout

    deadline = time.monotonic() + 60  # old ClickHouse parts leave the disk within seconds
    while {v for _, v in _scan(system)} - {PLAIN} and time.monotonic() < deadline:
        time.sleep(2.0)
    system.stop()  # and with everything flushed and closed
    after = _scan(system)
    assert [h for h in after if h[1] != PLAIN] == [], "after the erasure and a replay"
    assert any("/kafka/" in f for f, v in after if v == PLAIN)  # the log itself is still there


def _read_on_the_agent_page(system: System) -> None:
    if not CHROMIUM.exists():
        return
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{system.query}/?token={system.supervisor}")
        page.get_by_role("searchbox").fill(EMAIL)
        page.get_by_role("searchbox").press("Enter")
        expect(page.locator("#timeline li")).to_have_count(11, timeout=20000)
        expect(page.locator("#identities")).to_contain_text(EMAIL)
        time.sleep(1.0)  # the page's stream is open: the erasure happens while it is
        browser.close()
