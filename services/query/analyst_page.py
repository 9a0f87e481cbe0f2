"""The analyst's page: charts and a free SQL box over ``POST /v1/sql``, beside the agent page.

The page is static (plain HTML, CSS and JavaScript in ``static/analyst/``, no
build step) and draws with the service's own copy of Apache ECharts
(``/vendor/echarts``). Its charts run the worked queries of
``docs/analytics.md``, which it reads from ``/analyst/queries``, so the SQL a
chart shows is the SQL the test suite checks against its oracle. The queries
are documentation, not data: that route needs no key; running them does.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from projections.analytics import documented_queries

PAGE = Path(__file__).with_name("static") / "analyst" / "index.html"


def analyst_page_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    queries = cache(documented_queries)  # the page is read once, at the first request

    @router.get("/analyst")
    async def page() -> FileResponse:
        return FileResponse(PAGE)

    @router.get("/analyst/queries")
    async def worked_queries() -> dict[str, str]:
        """Name -> SQL of every worked query, in the order of the page they come from."""
        return queries()

    return router
