"""``touchline up`` as a newcomer runs it: from a fresh clone, with no path variable set.

One ``up`` serves the whole module. It runs from a ``git clone`` of this
repository, from the clone's root, with only free ports set (no
``TOUCHLINE_DATA_DIR``, no cache dir): the run command once failed for every
newcomer that way while the tests, which set absolute paths, stayed green.
Then: ingest answers and the worker resolves the demo; an agent finds a caller
in a real browser and sees a new event arrive live; the metrics of all three
processes move; the worker and then the projector are killed with SIGKILL and
``up`` restarts each; and Ctrl-C stops it all (last).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from events.topics import RESOLVED
from services.kafka.broker import port_open
from tests import samples
from tests.support import REPO, free_port, read_since, wait_until

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
VENDOR = Path("services/platform/static/vendor")
PROBLEM = re.compile(r"\bERROR\b|Traceback|CRITICAL|Unclosed|was never retrieved|destroyed but")


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    clone: Path
    log: Path
    url: str
    page: str
    query: str
    metrics: str  # the worker's
    key: str
    analyst: str
    env: dict[str, str]
    bootstrap: str
    kafka_port: int

    @property
    def data(self) -> Path:
        return self.clone / ".touchline"

    def post(self, event: dict[str, object]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.post(f"{self.url}/v1/events", json=event, headers=headers, timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pid_of(self, child: str) -> int:
        found = re.findall(rf"{child} started \(pid (\d+)\)", self.output())
        assert found, self.output()[-3000:]
        return int(found[-1])


def newcomer_env(**ports: str) -> dict[str, str]:
    """The environment of someone who has set nothing: no TOUCHLINE_ variable but free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOUCHLINE_", "PYTHON"))}
    return {**env, **ports}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    clone = tmp_path_factory.mktemp("newcomer") / "touchline"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    if (REPO / VENDOR).is_dir():  # what `make setup` copies from npm before `make up` runs this
        shutil.copytree(REPO / VENDOR, clone / VENDOR)
    kafka_port, http_port, query_port, metrics_port = (free_port() for _ in range(4))
    env = newcomer_env(
        TOUCHLINE_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
        TOUCHLINE_KAFKA_CONTROLLER_PORT=str(free_port()),
        TOUCHLINE_HTTP_PORT=str(http_port),
        TOUCHLINE_QUERY_PORT=str(query_port),
        TOUCHLINE_WORKER_METRICS_PORT=str(metrics_port),
        PYTHONPATH=str(clone),  # the clone's code, as its own venv would install it
    )
    log = clone.parent / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.entrypoints.cli", "up", "--demo-customers",
                                    "15", "--demo-rate", "2"], cwd=clone, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: "demo history:" in log.read_text() or process.poll() is not None, 240,
                   "the demo history to be published", 0.5)  # fmt: skip
        text = log.read_text()
        assert process.poll() is None, f"touchline up exited:\n{text[-4000:]}"
        key = re.search(r"demo publisher key for tenant 'demo': (\S+)", text)
        page = re.search(r"agent page: (\S+)", text)
        analyst = re.search(r"demo analyst key \(touchline sql --key \.\.\.\): (\S+)", text)
        assert key and page and analyst, text
        query = f"http://127.0.0.1:{query_port}"
        yield Up(process, clone, log, f"http://127.0.0.1:{http_port}", page.group(1), query,
                 f"http://127.0.0.1:{metrics_port}/metrics", key.group(1), analyst.group(1), env,
                 f"127.0.0.1:{kafka_port}", kafka_port)  # fmt: skip
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        _kill_everything_under(clone)  # children and the broker, if the test broke before Ctrl-C


def test_the_clone_runs_with_its_data_under_its_own_root(up: Up) -> None:
    assert (up.data / "kafka" / "server.properties").exists()
    assert (up.data / "identity.sqlite3").exists() and (up.data / "clickhouse").is_dir()


def test_a_normal_start_logs_no_errors(up: Up) -> None:
    wait_until(lambda: _stages(up.url) == {"worker": "up", "projector": "up"}, 120,
               "both stages to report up", 1.0)  # fmt: skip
    for text in (up.output(), *(p.read_text(errors="replace") for p in _child_logs(up))):
        assert not PROBLEM.search(text), text[-4000:]
        assert "\x1b[" not in text, "no terminal escape codes in log files"


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
        wait_until(lambda: _answers(up.query + "/healthz"), 60, "the agent page to be served", 0.5)
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

        wait_until(
            lambda: page.evaluate("() => document.querySelectorAll('#timeline li').length > 0"),
            30,
            "the timeline to reload",
            0.2,
        )  # not wait_for_function: the CSP forbids eval
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


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make setup`")
def test_an_agent_finds_a_customer_by_name_and_sees_who_she_is(up: Up) -> None:
    """By kanji, kana and romaji; the header shows her name, reading, consent and merge history."""
    from playwright.sync_api import expect, sync_playwright

    email, phone = f"sakura.{uuid.uuid4().hex[:6]}@example.jp", "+81 90 3141 5926"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def event(
        type_: str, identities: dict[str, str], payload: dict[str, object]
    ) -> dict[str, object]:
        return {"type": type_, "schema_version": 1, "occurred_at": now, "source": "crm",
                "identities": identities, "payload": payload}  # fmt: skip

    for sent in (
        samples.call_completed(identities={"phone": phone}),  # a phone-only customer first
        event("consent.granted", {"email": email}, {"channel": "email", "purpose": "marketing"}),
    ):
        assert up.post(sent).status_code == 202, sent
    wait_until(lambda: _found(up, phone) and _found(up, email), 60, "both customers", 0.5)
    profile = event("customer.profile_updated", {"email": email, "phone": phone},
                    {"name": {"family": "桜井", "given": "咲良", "family_kana": "サクライ",
                              "given_kana": "サクラ"}})  # fmt: skip
    assert up.post(profile).status_code == 202  # the master's row links the two: one customer
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(up.page)
        search = page.get_by_role("searchbox")

        def shows(typed: str) -> bool:
            search.fill(typed)
            search.press("Enter")
            page.wait_for_timeout(700)
            return "桜井 咲良" in (page.locator("#customer-title").text_content() or "")

        wait_until(lambda: shows("桜井咲良"), 60, "the name to be searchable", 0.0)
        for typed in ("サクライ サクラ", "さくらい", "Sakurai Sakura", "sakura sakurai"):
            page.goto(up.page)
            assert shows(typed), typed
        expect(page.locator("#customer-kana")).to_have_text("サクライ サクラ")
        expect(page.locator("#consent .granted")).to_contain_text("Email marketing")
        expect(page.locator("#merges-box")).to_be_visible()
        page.locator("#merges-box summary").click()
        expect(page.locator("#merges li")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "agent-by-name.png"))
        browser.close()


def _found(up: Up, value: str) -> bool:
    token = up.page.split("token=", 1)[1]
    response = httpx.get(f"{up.query}/v1/customers", params={"query": value},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    return response.status_code == 200 and bool(response.json()["results"])


def test_a_bad_token_asks_again_and_arrows_walk_the_results(up: Up) -> None:
    from playwright.sync_api import expect, sync_playwright

    for number in ("+14155550177", "+14155550178"):  # two customers sharing an email prefix
        event = samples.call_completed(
            identities={"phone": number, "email": f"twin{number[-1]}@x.io"}
        )
        assert up.post(event).status_code == 202
    token = up.page.split("token=", 1)[1]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(up.page.split("?")[0] + "?token=not-a-token")
        page.get_by_role("searchbox").fill("twin7@x.io")
        page.get_by_role("searchbox").press("Enter")
        expect(page.locator("#token-box")).to_be_visible()  # the agent can enter another one
        page.fill("#token", token)
        page.click("#token-save")
        expect(page.locator("#token-box")).to_be_hidden()

        def listed() -> bool:
            page.get_by_role("searchbox").fill("twin")
            page.get_by_role("searchbox").press("Enter")
            page.wait_for_timeout(700)
            return page.locator("#result-list li").count() >= 2

        wait_until(listed, 60, "both customers to be searchable", 0.0)
        items = page.locator("#result-list li")
        page.get_by_role("searchbox").press("ArrowDown")
        expect(items.nth(1)).to_be_focused()
        page.keyboard.press("ArrowDown")  # focus is on the list now: it keeps moving
        expect(items.nth(2 % items.count())).to_be_focused()
        page.keyboard.press("ArrowUp")
        expect(items.nth(1)).to_be_focused()
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make setup`")
def test_the_pages_are_locked_down_and_still_work_under_their_policy(up: Up) -> None:
    """CSP, no framing, no referrer; the token leaves the URL; nothing the pages do is refused."""
    from playwright.sync_api import expect, sync_playwright

    for path in ("/", "/analyst", "/docs"):
        headers = httpx.get(up.query + path, timeout=10).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "unsafe-inline" not in headers["content-security-policy"], path
        assert (headers["x-frame-options"], headers["referrer-policy"]) == ("DENY", "no-referrer")
    refused: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.on(
            "console", lambda m: refused.append(m.text) if "Content Security" in m.text else None
        )
        page.goto(up.page)
        assert "token=" not in page.url  # moved into the page: not in history or a Referer
        page.get_by_role("searchbox").fill("+14155550142")
        page.get_by_role("searchbox").press("Enter")
        page.wait_for_timeout(1000)
        analyst_token = up.analyst
        page.goto(f"{up.query}/analyst?token={analyst_token}")
        expect(page.locator("canvas").first).to_be_visible(timeout=20000)  # echarts drew
        assert "token=" not in page.url
        page.goto(up.query + "/docs")
        expect(page.locator(".swagger-ui .info .title")).to_be_visible(timeout=15000)
        browser.close()
    assert refused == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by `make setup`")
def test_api_docs_load_without_the_internet(up: Up) -> None:
    """Swagger UI comes from the services themselves: every outside request is refused."""
    from playwright.sync_api import Route, expect, sync_playwright

    outside: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.route("**/*", local_only)
        for base, title in ((up.url, "Touchline ingest API"), (up.query, "Touchline agent API")):
            page.goto(base + "/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text(title, timeout=15000)
        page.screenshot(path=str(ARTIFACTS / "api-docs-offline.png"))
        browser.close()
    assert outside == []


def test_an_analyst_queries_while_everything_runs(up: Up) -> None:
    """``touchline sql`` asks the projection service, which owns the store, as the key's tenant."""
    done = subprocess.run([sys.executable, "-m", "services.entrypoints.cli", "sql", "--key", up.analyst,
                           "--format", "csv", "SELECT tenant, count() AS n FROM touchpoints GROUP BY tenant"],
                          cwd=up.clone, env=up.env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header == "tenant,n" and row.startswith("demo,") and int(row.split(",")[1]) > 100


def test_metrics_of_every_process_move_with_the_events(up: Up) -> None:
    before = {name: _scrape(url) for name, url in _metric_urls(up).items()}
    events = [samples.call_completed(identities={"phone": f"+1415555{n:04d}"}) for n in range(30)]
    headers = {"Authorization": f"Bearer {up.key}"}
    answer = httpx.post(f"{up.url}/v1/events", json=events, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text

    def moved() -> bool:
        now = _scrape(_metric_urls(up)["worker"])
        gone = _total(now, "touchline_stage_events_processed_total", stage="identity")
        return gone - _total(before["worker"], "touchline_stage_events_processed_total",
                             stage="identity") >= 30  # fmt: skip

    wait_until(moved, 60, "the worker to count the events", 1.0)
    wait_until(lambda: _total(_scrape(_metric_urls(up)["projector"]),
                              "touchline_projector_rows_written_total", table="touchpoints")
               - _total(before["projector"], "touchline_projector_rows_written_total",
                        table="touchpoints") >= 30, 60, "the projector to count the rows", 1.0)  # fmt: skip
    after = {name: _scrape(url) for name, url in _metric_urls(up).items()}
    accepted = "touchline_ingest_events_accepted_total"
    assert _total(after["ingest"], accepted, type="call.completed") - _total(
        before["ingest"], accepted, type="call.completed") >= 30  # fmt: skip
    assert _series(after["ingest"], "touchline_http_request_duration_seconds_count",
                   route="/v1/events", status="202")  # fmt: skip
    for name, stage in (("worker", "worker"), ("projector", "projector")):
        lags = _series(after[name], "touchline_stage_consumer_lag", stage=stage)
        assert lags, f"{name} reports its lag per partition"
    wait_until(lambda: _total(_scrape(_metric_urls(up)["worker"]), "touchline_stage_consumer_lag",
                              stage="worker", topic="touchpoints") < 30, 60,
               "the worker's lag to come down", 2.0)  # fmt: skip
    assert _series(after["projector"], "touchline_agent_read_cache_total", result="hit")


def test_worker_and_projector_are_restarted_after_sigkill(up: Up) -> None:
    _kill_and_recover(up, "worker", "+14155550101")
    _kill_and_recover(up, "projector", "+14155550102")


def _kill_and_recover(up: Up, child: str, phone: str) -> None:
    """SIGKILL ``child``: ingest reports its stage down, ``up`` restarts it, and it catches up."""
    pid = up.pid_of(child)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: _stages(up.url).get(child) == "down", 30,
               f"ingest's /healthz to report the {child} down", 0.2)  # fmt: skip
    wait_until(lambda: up.pid_of(child) != pid, 60, f"up to restart the {child}", 0.5)
    event = samples.call_completed(identities={"phone": phone})
    assert up.post(event).status_code == 202
    wait_until(lambda: _timeline_has(up, phone, event["event_id"]), 120,
               f"an event sent after the {child} was killed to reach the agent API", 1.0)  # fmt: skip
    assert f"the {child} (pid {pid}) was killed by SIGKILL" in up.output()


def test_ctrl_c_stops_everything(up: Up) -> None:
    stopped_at = len(up.output())
    up.process.send_signal(signal.SIGINT)
    up.process.wait(90)
    assert up.process.returncode == 0, up.output()[-3000:]
    assert not port_open("127.0.0.1", up.kafka_port), "up should stop the broker it started"
    assert not PROBLEM.search(up.output()[stopped_at:]), up.output()[stopped_at:]


# -- helpers ---------------------------------------------------------------------------------


def _kill_everything_under(folder: Path) -> None:
    """SIGKILL every process started in ``folder`` or naming it (children orphaned by a failure)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder) in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _child_logs(up: Up) -> list[Path]:
    return [up.data / "worker.log", up.data / "projector.log"]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stages(url: str) -> dict[str, str]:
    try:
        body = httpx.get(url + "/healthz", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return {name: stage["state"] for name, stage in body.get("stages", {}).items()}


def _metric_urls(up: Up) -> dict[str, str]:
    return {"ingest": up.url + "/metrics", "projector": up.query + "/metrics", "worker": up.metrics}


Sample = tuple[str, dict[str, str], float]


def _scrape(url: str) -> list[Sample]:
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + 60
    while True:
        try:
            text = httpx.get(url, timeout=5).text
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    return [(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text) for s in family.samples]  # fmt: skip


def _series(samples_: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [
        s for s in samples_ if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())
    ]


def _total(samples_: list[Sample], name: str, **labels: str) -> float:
    return sum(s[2] for s in _series(samples_, name, **labels))


def _timeline_has(up: Up, phone: str, event_id: Any) -> bool:
    token = up.page.split("token=", 1)[1]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        found = httpx.get(f"{up.query}/v1/customers", params={"query": phone}, headers=headers,
                          timeout=10).json().get("results", [])  # fmt: skip
        if not found:
            return False
        timeline = httpx.get(f"{up.query}/v1/customers/{found[0]['customer_id']}/timeline",
                             headers=headers, timeout=10).json()  # fmt: skip
    except (httpx.HTTPError, ValueError):
        return False
    return event_id in {e["event_id"] for e in timeline.get("entries", [])}
