"""The duplicate review on the agent page, in a real browser, over the real pipeline.

A worker and a projection service (``merge_system``) hold two registrations of one person
(the same name, postal code and birthday; one by email, one by phone). A supervisor opens
the page, finds duplicates, merges the pair and sees one timeline holding both customers'
events; an agent's page shows no review section and the API refuses the agent's key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.merge_system import System, profile, running_system
from tests.samples import call_completed, chat_message

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(kafka_bootstrap, tmp_path_factory.mktemp("review-page")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make setup`")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def _page(browser: Any, url: str, errors: list[str]) -> Any:
    tab = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(url)
    return tab


def test_a_supervisor_merges_a_suggested_duplicate_and_sees_one_timeline(
    system: System, browser: Any
) -> None:
    first = profile(("山田", "花子"), "150-0043", "1990-07-07", identities={"email": "hanako@x.io"})
    second = profile(("山田", "花子"), "150-0043", "1990-07-07",
                     identities={"phone": "+819011112222"}, occurred_at="2026-11-21T02:00:00Z")  # fmt: skip
    chat = chat_message(identities={"email": "hanako@x.io"})
    call = call_completed(identities={"phone": "+819011112222"})
    system.publish(first, second, chat, call)
    pair = sorted(system.customer_of(e["event_id"]) for e in (first, second))
    system.wait_api("both customers projected", lambda: all(
        system.api("GET", f"/v1/customers/{c}/timeline").status_code == 200
        and len(system.timeline(c)[1]) == 2 for c in pair))  # fmt: skip
    errors: list[str] = []
    tab = _page(browser, f"{system.url}/?token={system.supervisor}", errors)
    tab.locator("#review-run").click(timeout=30_000)
    suggestion = tab.locator(f'li.review-item[data-customers="{pair[0]} {pair[1]}"]')
    suggestion.wait_for(timeout=60_000)
    assert "name.full" in suggestion.inner_text()
    suggestion.locator(".review-accept").click()
    merged = suggestion.locator(".review-timeline")
    merged.wait_for(timeout=120_000)
    survivor = merged.get_attribute("data-customer")
    assert survivor in pair
    assert merged.locator("li").count() == 4  # both profiles, the chat and the call
    tab.screenshot(path=str(ARTIFACTS / "review-accepted.png"), full_page=True)
    assert system.timeline(pair[0]) == system.timeline(pair[1])
    assert errors == [], errors


def test_an_agent_cannot_see_or_use_the_queue(system: System, browser: Any) -> None:
    errors: list[str] = []
    tab = _page(browser, f"{system.url}/?token={system.agent}", errors)
    tab.wait_for_load_state("networkidle")
    assert tab.locator("#review").is_hidden()
    assert tab.locator("#review-run").count() == 0
    status = tab.evaluate(
        "async (t) => (await fetch('/v1/review/duplicates', {headers: {Authorization: `Bearer ${t}`}})).status",
        system.agent,
    )
    assert status == 403
    assert errors == [], errors
