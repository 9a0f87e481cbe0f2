"""The analyst's page in a real browser, over a projection service that projected a real run.

The stream worker's run (``pipeline_run``) is projected by ``touchline projector``, which
serves ``/analyst``. Headless Chromium (Debian's, driven by Playwright) opens it with an
analyst key in the URL and must draw every chart from the rows its worked query gives
through ``POST /v1/sql`` (the points are read out of each ECharts instance and compared
with the API's own answer, fetched here), run a free query and download its CSV (compared
byte for byte with the API's CSV), show a refused query's error where the API placed it,
and switch to Japanese. Every request that is not for 127.0.0.1 is aborted, and the test
asserts none was attempted: the page and its chart library are served by the service.
Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from services.kafka.lag import group_lag
from tests.integration.pipeline import Run, pipeline_run
from tests.support import REPO, TOUCHLINE, base_env, cli, free_port, random_tenant, wait_until

__all__ = ["pipeline_run"]  # the session fixture, shared with the integration tests

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
ECHARTS = REPO / "services/platform/static/vendor/echarts/echarts.min.js"
FREE_QUERY = "SELECT channel, count() AS events, min(occurred_at) AS first\nFROM touchpoints\nGROUP BY channel\nORDER BY channel"  # fmt: skip
REFUSED_QUERY = "SELECT channel\nFROM touchpoints\nWHERE event_id IN (SELECT event_id FROM system.tables)"  # fmt: skip


@dataclass
class Served:
    url: str
    key: str
    process: subprocess.Popen[bytes]
    outside: list[str] = field(default_factory=list)  # requests the browser tried to send away

    def sql(self, query: str, accept: str = "application/json") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": accept}
        return httpx.post(f"{self.url}/v1/sql", json={"query": query}, headers=headers, timeout=60)

    def rows(self, query: str) -> list[dict[str, Any]]:
        answer = self.sql(query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return [
            dict(zip([c["name"] for c in body["columns"]], r, strict=True)) for r in body["rows"]
        ]


@pytest.fixture(scope="module")
def served(
    pipeline_run: Run, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    assert ECHARTS.exists(), (
        "the chart library is missing: run `make setup` (it copies it from npm)"
    )
    data, port, group = (
        tmp_path_factory.mktemp("analyst"),
        free_port(),
        f"analyst-{random_tenant()}",
    )
    env = base_env(kafka_bootstrap, **pipeline_run.key_env, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_PROJECTOR_GROUP=group,
                   TOUCHLINE_QUERY_PORT=str(port))  # fmt: skip
    tenant = next(iter(pipeline_run.tenants))
    key = cli(env, "keys", "create", "--tenant", tenant, "--role", "analyst").stdout.strip()
    with (data / "projector.log").open("ab") as log:
        process = subprocess.Popen([TOUCHLINE, "projector"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        topics = [RESOLVED, CUSTOMERS, SCORES, DEADLETTER]
        wait_until(lambda: asyncio.run(group_lag(kafka_bootstrap, group, topics)) == 0, 240,
                   "the projector to catch up", 0.5)  # fmt: skip
        yield Served(f"http://127.0.0.1:{port}", key, process)
    finally:
        process.terminate()
        process.wait(60)


@pytest.fixture(scope="module")
def page(served: Served) -> Iterator[Any]:
    """One page for the module's tests, in order: they go on from where the previous left it."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is installed by `make setup`")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        context.route("**/*", lambda route: _local_only(route, served.outside))
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(f"{served.url}/analyst?token={served.key}")
        yield tab
        assert errors == [], errors
        browser.close()
    assert served.outside == [], f"the page tried to reach outside: {served.outside}"


def _local_only(route: Any, outside: list[str]) -> None:
    if urlparse(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        outside.append(route.request.url)
        route.abort()


# What each chart must hold, given the rows of its query: (series, rows) -> None.
Check = Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]


def _channel_mix(series: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    assert {s["type"] for s in series} == {"bar"}
    assert len(series) == len({r["channel"] for r in rows})  # a stacked series per channel
    assert sum(s["total"] for s in series) == sum(r["events"] for r in rows)


def _email_funnel(series: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    assert [s["name"] for s in series] == ["sent", "delivered", "opened", "clicked"]
    assert all(s["points"] == len(rows) for s in series)
    assert [s["total"] for s in series] == [sum(r[k] for r in rows) for k in ("sent", "delivered", "opened", "clicked")]  # fmt: skip


def _heatmap(value: str) -> Check:
    def check(series: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        assert [s["type"] for s in series] == ["heatmap"] and series[0]["points"] == len(rows)
        assert series[0]["total"] == pytest.approx(sum(float(r[value]) for r in rows))

    return check


def _deciles(series: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    assert [(s["type"], s["points"]) for s in series] == [("bar", len(rows)), ("line", len(rows))]
    assert series[0]["total"] == pytest.approx(1.0, abs=1e-3)  # the shares add up to all revenue


def _ltv(series: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    assert [s["points"] for s in series] == [len(rows), len(rows)]
    assert series[1]["total"] == pytest.approx(sum(r["ltv_per_customer"] for r in rows))


CHECKS: dict[str, Check] = {
    "channel_mix": _channel_mix,
    "email_funnel": _email_funnel,
    "rfm_grid": _heatmap("customer_count"),
    "ltv": _ltv,
    "deciles": _deciles,
    "cohorts": _heatmap("retention"),
    "ctb": _heatmap("revenue"),
}

# Each chart's series as the ECharts instance holds them: type, name, points, sum of values.
SERIES_JS = """el => echarts.getInstanceByDom(el).getOption().series.map(s => ({
    type: s.type, name: s.name, points: s.data.length,
    total: s.data.reduce((n, d) => { const v = Array.isArray(d) ? d[2] : d && d.value ? d.value[2] : d;
                                     return n + Number(v); }, 0),
}))"""


def test_every_chart_is_drawn_from_the_rows_of_its_query(served: Served, page: Any) -> None:
    from playwright.sync_api import expect

    expect(page).to_have_url(f"{served.url}/analyst")  # the key left the address bar
    assert page.evaluate("sessionStorage.getItem('touchline.analyst_key')") == served.key
    # polled from here: wait_for_function evaluates a string, which the page's CSP forbids
    wait_until(lambda: page.evaluate("() => [...document.querySelectorAll('.card[data-chart]:not(.slot)')]"
                                     ".every(c => c.dataset.rows || c.dataset.failed)"),
               120, "every chart to be drawn", 0.5)  # fmt: skip
    queries = httpx.get(f"{served.url}/analyst/queries", timeout=10).json()
    charted = {c: q for c, q in page.eval_on_selector_all(
        ".card[data-chart]:not(.slot)", "cs => cs.map(c => [c.dataset.chart, c.querySelector('.sql-text').textContent])")}  # fmt: skip
    assert set(charted) == {*CHECKS, "churn"}
    for chart, sql in charted.items():
        card = page.locator(f"#card-{chart}")
        assert card.get_attribute("data-failed") is None, (chart, card.get_attribute("data-failed"))
        assert sql in queries.values(), f"{chart} shows SQL that is not a worked query"
        rows = served.rows(sql)
        assert rows and card.get_attribute("data-rows") == str(len(rows)), chart
        if chart in CHECKS:
            CHECKS[chart](card.locator(".plot").evaluate(SERIES_JS), rows)
    churn = served.rows(charted["churn"])
    expect(page.locator("#card-churn tbody tr")).to_have_count(min(15, len(churn)))
    expect(page.locator("#card-segments_over_time")).to_contain_text("segment_changes")
    page.screenshot(path=str(ARTIFACTS / "analyst-page.png"), full_page=True)
    page.locator("#card-cohorts").screenshot(path=str(ARTIFACTS / "analyst-cohorts.png"))

    page.locator("#card-rfm_grid .open-sql").click()
    assert page.locator("#sql").input_value() == charted["rfm_grid"]


def test_a_free_query_shows_its_rows_and_downloads_its_csv(served: Served, page: Any) -> None:
    from playwright.sync_api import expect

    page.fill("#sql", FREE_QUERY)
    page.click("#run")
    expected = served.rows(FREE_QUERY)
    expect(page.locator("#sql-result tbody tr")).to_have_count(len(expected))
    cells = page.locator("#sql-result tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] == expected[0]["channel"] and cells[2] == expected[0]["first"]
    expect(page.locator("#sql-status")).to_contain_text(f"{len(expected)} rows")
    with page.expect_download() as download:
        page.click("#csv")
    assert download.value.suggested_filename == "touchline-query.csv"
    saved = Path(download.value.path()).read_bytes()
    assert saved == served.sql(FREE_QUERY, accept="text/csv").content  # the API's CSV, as it is
    lines = saved.decode("utf-8").splitlines()
    assert lines[0] == "channel,events,first" and len(lines) == len(expected) + 1
    assert lines[1].startswith(f"{expected[0]['channel']},{expected[0]['events']},")
    page.locator("#sql-box").screenshot(path=str(ARTIFACTS / "analyst-sql.png"))


def test_a_refused_query_shows_why_and_where(served: Served, page: Any) -> None:
    from playwright.sync_api import expect

    error = served.sql(REFUSED_QUERY).json()["error"]
    assert error["line"] == 3, error  # system.tables is on the third line
    page.fill("#sql", REFUSED_QUERY)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#sql-error")).to_be_visible()
    expect(page.locator("#error-code")).to_contain_text(error["code"])
    expect(page.locator("#error-where")).to_have_text(f"line {error['line']}, column {error['column']}")  # fmt: skip
    caret = page.locator("#error-line").inner_text().split("\n")
    assert (
        caret[0] == REFUSED_QUERY.split("\n")[2] and caret[1] == " " * (error["column"] - 1) + "^"
    )
    assert page.evaluate("document.getElementById('sql').selectionStart") == (
        len("\n".join(REFUSED_QUERY.split("\n")[:2])) + 1 + error["column"] - 1
    )
    expect(page.locator("#sql-result tr")).to_have_count(0)
    page.locator("#sql-box").screenshot(path=str(ARTIFACTS / "analyst-sql-error.png"))


def test_the_page_switches_to_japanese(served: Served, page: Any) -> None:
    from playwright.sync_api import expect

    page.select_option("#lang", "ja")
    expect(page.locator("h1")).to_have_text("Touchline 分析")
    expect(page.locator("#card-cohorts h2")).to_have_text("週次コホート継続率")
    expect(page.locator("#run")).to_have_text("実行")
    expect(page.locator("#error-where")).to_contain_text("行目")  # the shown error follows too
    legend = page.locator("#card-channel_mix .plot").evaluate(SERIES_JS)
    assert "メール" in {s["name"] for s in legend}
    weeks = page.locator("#card-cohorts .plot").evaluate(
        "el => echarts.getInstanceByDom(el).getOption().yAxis[0].data"
    )
    assert weeks and all("月" in w and "日" in w for w in weeks), weeks  # dates in Japanese
    expect(page.locator("#card-churn thead")).to_contain_text("最終メール")
    page.screenshot(path=str(ARTIFACTS / "analyst-japanese.png"), full_page=True)
    assert served.outside == [], "every request stayed on 127.0.0.1"
