"""OpenAPI pages served with the service's own copy of Swagger UI, so ``/docs`` works offline.

FastAPI's default page loads Swagger UI from a CDN: on a machine without
internet it stayed blank. ``make setup`` copies swagger-ui-dist and the
pages' other packages (from npm, pinned in ``web/package.json``) into
``static/vendor``; each API mounts it at ``/vendor``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from services.platform.security_headers import policy_for_inline_scripts

VENDOR = Path(__file__).with_name("static") / "vendor"
SWAGGER = VENDOR / "swagger-ui"


def add_offline_docs(app: FastAPI, title: str) -> None:
    """``/docs`` from local assets (the app must be made with ``docs_url=None, redoc_url=None``)."""
    if VENDOR.is_dir():
        app.mount("/vendor", StaticFiles(directory=VENDOR), name="vendor")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        if not (SWAGGER / "swagger-ui-bundle.js").exists():
            return PlainTextResponse(
                "Swagger UI is not installed here: run `make setup` (it copies swagger-ui-dist "
                "from npm). The OpenAPI document itself is at /openapi.json.",
                status_code=503,
            )
        page: HTMLResponse = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} — API",
            swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/vendor/swagger-ui/favicon-32x32.png",
        )
        page.headers["content-security-policy"] = policy_for_inline_scripts(bytes(page.body))
        return page
