"""``touchline up`` from nothing: broker, worker, projector, API, agent page and demo traffic.

One ``up`` serves the whole module: ingest answers, the worker resolves the
demo history, an agent finds a customer in a real browser (Debian's Chromium
driven by Playwright) and sees a new event arrive live, and Ctrl-C stops it
all (last).
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from services.kafka.broker import port_open
from services.kafka.topics import RESOLVED
from tests import samples
from tests.support import TOUCHLINE, base_env, free_port, read_since, wait_until

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    log: Path
    url: str
    page: str
    key: str
    bootstrap: str
    kafka_port: int

    def post(self, event: dict[str, object]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.post(f"{self.url}/v1/events", json=event, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    tmp = tmp_path_factory.mktemp("up")
    kafka_port, http_port, query_port = free_port(), free_port(), free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    env = base_env(bootstrap, TOUCHLINE_DATA_DIR=str(tmp / "data"), TOUCHLINE_HTTP_PORT=str(http_port),
                   TOUCHLINE_QUERY_PORT=str(query_port),
                   TOUCHLINE_KAFKA_CONTROLLER_PORT=str(free_port()))  # fmt: skip
    log = tmp / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen([TOUCHLINE, "up", "--demo-customers", "15"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(
            lambda: "demo history:" in log.read_text(), 120, "the demo history to be published", 0.5
        )
        text = log.read_text()
        key = re.search(r"demo publisher key for tenant 'demo': (\S+)", text)
        page = re.search(r"agent page: (\S+)", text)
        assert key and page, text
        yield Up(process, log, f"http://127.0.0.1:{http_port}", page.group(1), key.group(1), bootstrap,
                 kafka_port)  # fmt: skip
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def test_ingest_answers_and_the_worker_resolves_the_demo(up: Up) -> None:
    event = samples.call_completed()
    accepted = up.post(event)
    assert accepted.status_code == 202, accepted.text
    refused = up.post(samples.without(event, "payload", "call_id"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/payload/call_id"

    written = [orjson.loads(r.value) for r in asyncio.run(read_since(up.bootstrap, {}))]
    assert event["event_id"] in {e["event_id"] for e in written}
    assert sum(1 for e in written if e["source"] != "pbx") > 100  # the demo history

    def resolved() -> list[dict[str, object]]:
        return [orjson.loads(r.value) for r in asyncio.run(read_since(up.bootstrap, {}, RESOLVED))]

    wait_until(
        lambda: len(resolved()) > 100, 120, "the stream worker to resolve the demo history", 2.0
    )
    assert all(r["customer_id"] for r in resolved() if "event_id" in r)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make setup`")
def test_an_agent_finds_a_caller_and_sees_a_new_event_live(up: Up) -> None:
    from playwright.sync_api import expect, sync_playwright

    phone = "+14155550142"
    first = samples.call_completed(
        identities={"phone": "(415) 555-0142", "email": "mika@example.com"}
    )
    assert up.post(first).status_code == 202
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        health = up.page.split("?")[0] + "healthz"
        wait_until(lambda: _answers(health), 60, "the agent page to be served", 0.5)
        page.goto(up.page)
        search = page.get_by_role("searchbox")

        def found() -> bool:  # the call must be resolved and projected first
            search.fill("415-555-0142")
            search.press("Enter")
            page.wait_for_timeout(700)
            return page.locator("#timeline li").count() > 0

        wait_until(found, 60, "the caller to be searchable", 0.0)
        expect(page.locator("#identities")).to_contain_text(phone)
        page.screenshot(path=str(ARTIFACTS / "agent-timeline.png"))

        page.locator("#chips button", has_text="Phone").click()
        expect(page.locator("#chips button", has_text="Phone")).to_have_attribute(
            "aria-pressed", "true"
        )

        def shown_channels() -> set[str]:
            return set(
                page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.channel)")
            )

        page.wait_for_function("document.querySelectorAll('#timeline li').length > 0")  # reloaded
        assert shown_channels() == {"phone"}

        live = samples.call_completed(identities={"phone": phone},
                                      payload={"call_id": f"c-{uuid.uuid4().hex[:6]}", "direction": "inbound",
                                               "duration_s": 95, "agent": "Kato", "disposition": "resolved"})  # fmt: skip
        assert up.post(live).status_code == 202
        expect(page.locator(f'[data-event-id="{live["event_id"]}"]')).to_be_visible(timeout=3000)
        expect(page.locator(f'[data-event-id="{live["event_id"]}"]')).to_contain_text("Kato")
        page.screenshot(path=str(ARTIFACTS / "agent-live-event.png"))

        page.select_option("#lang", "ja")
        expect(page.get_by_role("button", name="検索")).to_be_visible()
        expect(page.locator(f'[data-event-id="{live["event_id"]}"]')).to_contain_text("着信")
        page.screenshot(path=str(ARTIFACTS / "agent-japanese.png"))
        browser.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_ctrl_c_stops_everything(up: Up) -> None:
    up.process.send_signal(signal.SIGINT)
    up.process.wait(90)
    assert up.process.returncode == 0, up.log.read_text()[-3000:]
    assert not port_open("127.0.0.1", up.kafka_port), "up should stop the broker it started"
