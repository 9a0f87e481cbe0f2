"""Analyst SQL as a service: ``POST /v1/sql`` on the projection service, scoped by the key.

It runs where the store is (an embedded chDB directory opens in one process
only), so analysts query while the system runs. The tenant comes from the
analyst key and nothing else; the query passes the guard and runs in the
engine layer with its limits (``projections.analyst``); every query is
audited (``audit_queries``), refused or not, with who, what and how many rows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from projections.analyst import (
    AnalystCatalog,
    AnalystQueryError,
    QueryLimitHit,
    QueryLimits,
    SqlRefused,
    check_query,
    load_catalog,
    run_checked,
)
from projections.store import ProjectionStore, ProjectionStoreError
from services.auth.keys import ApiKey, KeyStore
from services.query.entries import json_response
from services.query.errors import QueryError

log = logging.getLogger(__name__)
MAX_QUERY_BYTES = 100_000
AUDIT = pa.schema([("tenant", pa.string()), ("at", pa.timestamp("ms", tz="UTC")),
                   ("key_id", pa.string()), ("role", pa.string()), ("what", pa.string()),
                   ("query", pa.string()), ("outcome", pa.string()), ("detail", pa.string()),
                   ("rows", pa.uint64()), ("elapsed_ms", pa.uint32())])  # fmt: skip


def analyst_key(request: Request, keys: KeyStore) -> ApiKey:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    key = keys.lookup(token) if token else None
    if key is None:
        raise QueryError(401, "unauthenticated", "send 'Authorization: Bearer <analyst key>'")
    if key.role != "analyst":
        raise QueryError(403, "forbidden", f"role {key.role!r} cannot run SQL (analyst)")
    return key


class QueryAudit:
    """``audit_queries`` rows, written as each query ends (analyst queries are few)."""

    def __init__(self, store: ProjectionStore) -> None:
        self.store = store

    def record(self, key: ApiKey, what: str, query: str, outcome: str, detail: str = "",
               rows: int = 0, elapsed_ms: int = 0) -> None:  # fmt: skip
        row = pa.table({
            "tenant": [key.tenant], "at": [datetime.now(UTC)], "key_id": [key.key_id],
            "role": [key.role], "what": [what], "query": [query], "outcome": [outcome],
            "detail": [detail], "rows": [rows], "elapsed_ms": [min(elapsed_ms, 2**32 - 1)],
        }, schema=AUDIT)  # fmt: skip
        self.store.insert_arrow("audit_queries", row, None)


def analyst_router(store: ProjectionStore, keys: KeyStore, limits: QueryLimits) -> APIRouter:
    router = APIRouter()
    audit = QueryAudit(store)
    catalog: list[AnalystCatalog] = []  # read from the store once, at the first query

    @router.post("/v1/sql", summary="Read-only SQL over the projections, as the key's tenant")
    async def sql(request: Request) -> Response:
        key = analyst_key(request, keys)
        body = await request.body()
        text = _query_text(body, request.headers.get("content-type", ""))
        started = time.monotonic()
        try:
            if not catalog:
                catalog.append(await asyncio.to_thread(load_catalog, store))
            checked = check_query(text, catalog[0])
            table = await asyncio.to_thread(
                run_checked, store, key.tenant, checked, catalog[0], limits
            )
        except AnalystQueryError as exc:
            await _audit(audit.record, key, text, exc, started)
            return _refusal(exc)
        except ProjectionStoreError as exc:
            await _audit(audit.record, key, text, exc, started)
            raise QueryError(
                503, "projections_unavailable", str(exc).split("\n")[0][:300]
            ) from None
        elapsed = int((time.monotonic() - started) * 1000)
        await asyncio.to_thread(audit.record, key, "sql", text, "ok", "", table.num_rows, elapsed)
        if "text/csv" in request.headers.get("accept", ""):
            return Response(csv_text(table), media_type="text/csv; charset=utf-8")
        return json_response({"columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
                              "rows": [list(r.values()) for r in table.to_pylist()],
                              "row_count": table.num_rows, "elapsed_ms": elapsed, "sql": checked.sql})  # fmt: skip

    return router


def _query_text(body: bytes, content_type: str) -> str:
    if len(body) > MAX_QUERY_BYTES:
        raise QueryError(413, "query_too_large", f"a query is at most {MAX_QUERY_BYTES} bytes")
    if "application/json" in content_type:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise QueryError(400, "invalid_json", f"the body is not JSON: {exc}") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("query"), str):
            raise QueryError(400, "bad_parameter", 'send {"query": "SELECT ..."}', "query")
        return str(parsed["query"])
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError(400, "bad_parameter", "the query is not UTF-8 text", "query") from None


def _refusal(exc: AnalystQueryError) -> JSONResponse:
    error: dict[str, Any] = {"code": exc.code, "message": str(exc)}
    if isinstance(exc, SqlRefused) and exc.line is not None:
        error |= {"line": exc.line, "column": exc.column}
    if isinstance(exc, QueryLimitHit):
        error["limit"] = exc.limit
        return JSONResponse({"error": error}, status_code=422)
    return JSONResponse({"error": error}, status_code=400)


async def _audit(record: Callable[..., None], key: ApiKey, text: str, exc: Exception,
                 started: float) -> None:  # fmt: skip
    outcome = ("limit" if isinstance(exc, QueryLimitHit) else "refused"
               if isinstance(exc, AnalystQueryError) else "unavailable")  # fmt: skip
    code = getattr(exc, "code", type(exc).__name__)
    elapsed = int((time.monotonic() - started) * 1000)
    try:
        await asyncio.to_thread(record, key, "sql", text, outcome, code, 0, elapsed)
    except ProjectionStoreError as failed:  # the store is what failed: the answer says so too
        log.error("analyst query by key %s not audited: %s", key.key_id, failed)


def csv_text(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else v for v in row.values()])
    return out.getvalue()
