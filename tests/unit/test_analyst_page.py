"""The analyst page's routes, and its charts' ties to the worked queries of ``docs/analytics.md``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from projections.analytics import documented_queries
from services.query.analyst_page import PAGE, analyst_page_router

ASSETS = PAGE.parent


def client() -> TestClient:
    app = FastAPI()
    app.include_router(analyst_page_router())
    return TestClient(app)


def test_the_page_loads_its_scripts_and_the_chart_library_from_the_service() -> None:
    page = client().get("/analyst")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/vendor/echarts/echarts.min.js" in sources and "/static/analyst/app.js" in sources
    assert all(s.startswith(("/", "data:")) for s in sources), sources


def test_the_worked_queries_are_the_documented_ones() -> None:
    answer = client().get("/analyst/queries")
    assert answer.status_code == 200 and answer.json() == documented_queries()


def test_every_chart_reads_a_documented_query() -> None:
    charts = (ASSETS / "charts.js").read_text(encoding="utf-8")
    named = re.findall(r'query: "([a-z0-9_]+)"', charts)
    assert len(named) >= 8 and set(named) <= set(documented_queries()), named


def test_no_asset_names_another_host() -> None:
    for asset in ASSETS.iterdir():
        text = Path(asset).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//cdn", text), asset.name


@pytest.mark.skipif(shutil.which("node") is None, reason="node comes with `make setup` (npm)")
def test_both_languages_have_every_word() -> None:
    """A word missing in Japanese would fall back to English silently: here it fails instead."""
    script = (
        f"const {{ TEXT }} = await import({json.dumps((ASSETS / 'i18n.js').as_uri())});"
        "const keys = (o, p = '') => Object.entries(o).flatMap(([k, v]) =>"
        "  typeof v === 'object' ? keys(v, p + k + '.') : [p + k]).sort();"
        "console.log(JSON.stringify([keys(TEXT.en), keys(TEXT.ja)]));"
    )
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True,
                         text=True, check=True, timeout=30).stdout  # fmt: skip
    english, japanese = json.loads(out)
    assert len(english) > 50 and english == japanese
