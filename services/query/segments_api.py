"""``/v1/segments``: an analyst's saved audiences, scoped to the key's tenant.

Create, list, show, revise (a new version), preview (size and a sample, nothing saved),
delete, and export with consent applied. A wrong definition is 422 with the JSON path
that is wrong; another tenant's segment is not found (404); a key of any other role is
403. Every export is audited: one ``audit_queries`` row with what was asked and what
was left out, and one ``audit_reads`` row per exported customer.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from projections.analyst import AnalystCatalog, AnalystQueryError, QueryLimits, load_catalog
from projections.consents import CHANNELS, PURPOSES
from projections.segments.definitions import Segment, SegmentNameTaken, SqliteSegmentStore
from projections.segments.evaluate import DefinitionError, check, check_definition, evaluate
from projections.segments.reads import audience
from projections.segments.rules import compile_rule
from projections.store import ProjectionStore, ProjectionStoreError
from services.auth.keys import ApiKey, KeyStore
from services.query.analyst_api import MAX_QUERY_BYTES, QueryAudit, analyst_key
from services.query.audit import AuditLog
from services.query.entries import json_response
from services.query.errors import QueryError
from services.segments.refresher import SegmentRefresher

SAMPLE = 20
FORMATS = ("json", "csv", "jsonl")


def segments_router(store: ProjectionStore, keys: KeyStore, segments: SqliteSegmentStore,
                    limits: QueryLimits, reads: AuditLog | None = None,
                    refresher: SegmentRefresher | None = None) -> APIRouter:  # fmt: skip
    router = APIRouter()
    audit = QueryAudit(store)
    catalog: list[AnalystCatalog] = []

    async def catalog_now() -> AnalystCatalog:
        if not catalog:
            catalog.append(await _store(load_catalog, store))
        return catalog[0]

    def found(key: ApiKey, id_or_name: str) -> Segment:
        segment = segments.get(key.tenant, id_or_name)
        if segment is None:
            raise QueryError(404, "not_found", f"no segment {id_or_name!r} in tenant {key.tenant}")
        return segment

    @router.post("/v1/segments", status_code=201, summary="Save a segment (a rule or analyst SQL)")
    async def create(request: Request) -> Response:
        key = analyst_key(request, keys)
        try:
            name, kind, definition = check_definition(
                await _body(request), await catalog_now(), _now()
            )
        except DefinitionError as exc:
            return _invalid(exc)
        try:
            segment = segments.create(key.tenant, name, kind, definition, key.key_id)
        except SegmentNameTaken:
            raise QueryError(
                409,
                "name_taken",
                f"segment {name!r} exists: PUT /v1/segments/{{id}} for a new version",
            ) from None
        _poke(refresher, key)
        response = json_response(_shown(segment))
        response.status_code = 201
        return response

    @router.get("/v1/segments", summary="The tenant's segments, with their last refresh")
    async def list_(request: Request) -> Response:
        key = analyst_key(request, keys)
        return json_response({"segments": [s.public() for s in segments.listed(key.tenant)]})

    @router.post("/v1/segments/preview", summary="Size and a sample of a definition, not saved")
    async def preview(request: Request) -> Response:
        key = analyst_key(request, keys)
        body = await _body(request)
        if isinstance(body, dict) and "name" not in body:
            body = {**body, "name": "preview"}
        try:
            _, kind, definition = check_definition(body, await catalog_now(), _now())
            result = await _store(evaluate, store, key.tenant, kind, definition, _now(),
                                  await catalog_now(), limits)  # fmt: skip
        except DefinitionError as exc:
            return _invalid(exc)
        except AnalystQueryError as exc:
            return _invalid(DefinitionError("$.sql", str(exc), exc.code))
        members = sorted(result.members)
        return json_response({"size": len(members), "sample": members[:SAMPLE],
                              "conditions": result.conditions})  # fmt: skip

    @router.get("/v1/segments/{segment}", summary="One segment: its definition and last refresh")
    async def show(request: Request, segment: str) -> Response:
        return json_response(_shown(found(analyst_key(request, keys), segment)))

    @router.put("/v1/segments/{segment}", summary="A new version of a segment's definition")
    async def revise(request: Request, segment: str) -> Response:
        key = analyst_key(request, keys)
        current = found(key, segment)
        body = await _body(request)
        kind = next((k for k in ("rule", "sql") if isinstance(body, dict) and k in body), None)
        if kind is None:
            return _invalid(DefinitionError("$", 'give "rule" or "sql"'))
        try:
            check(kind, body[kind], await catalog_now(), _now())
        except DefinitionError as exc:
            return _invalid(exc)
        revised = segments.revise(key.tenant, current.segment_id, kind, body[kind], key.key_id)
        if revised is None:
            raise QueryError(404, "not_found", f"no segment {segment!r} in tenant {key.tenant}")
        _poke(refresher, key)
        return json_response(_shown(revised))

    @router.delete(
        "/v1/segments/{segment}", summary="Delete a segment (its members are told they left)"
    )
    async def delete(request: Request, segment: str) -> Response:
        key = analyst_key(request, keys)
        current = found(key, segment)
        segments.delete(key.tenant, current.segment_id)
        _poke(refresher, key)
        return json_response({"deleted": current.segment_id, "name": current.name})

    @router.get(
        "/v1/segments/{segment}/export", summary="Members with consent for a channel and purpose"
    )
    async def export(request: Request, segment: str) -> Response:
        key = analyst_key(request, keys)
        current = found(key, segment)
        channel, purpose, form = _export_params(request)
        result = await _store(audience, store, key.tenant, current.segment_id, channel, purpose)
        asked = f"segment {current.name} v{current.version} channel={channel} purpose={purpose}"
        excluded = ", ".join(f"{k}={v}" for k, v in result.excluded.items())
        await _store(audit.record, key, "segment_export", asked, "ok", f"excluded {excluded}",
                     len(result.rows))  # fmt: skip
        if reads is not None:
            for row in result.rows:
                reads.record(key, row["customer_id"], "segment_export")
        summary = {"segment_id": current.segment_id, "name": current.name,
                   "version": current.version, "channel": channel, "purpose": purpose,
                   "exported": len(result.rows), "excluded": result.excluded,
                   "excluded_why": "consent for this channel and purpose is not granted",
                   "last_refresh": current.public()["last_refresh"]}  # fmt: skip
        if form == "json":
            return json_response({**summary, "rows": result.rows})
        headers = {"X-Touchline-Exported": str(len(result.rows)),
                   "X-Touchline-Excluded-Withdrawn": str(result.excluded["withdrawn"]),
                   "X-Touchline-Excluded-Unknown": str(result.excluded["unknown"]),
                   "Content-Disposition": f'attachment; filename="{current.name}.{form}"'}  # fmt: skip
        if form == "jsonl":
            text = "".join(orjson.dumps(r).decode() + "\n" for r in result.rows)
            return Response(text, media_type="application/x-ndjson", headers=headers)
        return Response(_csv(result.rows), media_type="text/csv; charset=utf-8", headers=headers)

    return router


def _shown(segment: Segment) -> dict[str, Any]:
    shown = segment.public()
    if segment.kind == "rule":
        shown["conditions"] = [{"path": c.path, "text": c.text}
                               for c in compile_rule(segment.definition, _now()).conditions]  # fmt: skip
    return shown


def _export_params(request: Request) -> tuple[str, str, str]:
    query = request.query_params
    channel, purpose = query.get("channel", ""), query.get("purpose", "")
    form = query.get("format", "json")
    if channel not in CHANNELS:
        raise QueryError(
            400, "bad_parameter", f"channel must be one of {', '.join(CHANNELS)}", "channel"
        )
    if purpose not in PURPOSES:
        raise QueryError(
            400, "bad_parameter", f"purpose must be one of {', '.join(PURPOSES)}", "purpose"
        )
    if form not in FORMATS:
        raise QueryError(
            400, "bad_parameter", f"format must be one of {', '.join(FORMATS)}", "format"
        )
    return channel, purpose, form


async def _body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_QUERY_BYTES:
        raise QueryError(413, "body_too_large", f"a definition is at most {MAX_QUERY_BYTES} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise QueryError(400, "invalid_json", f"the body is not JSON: {exc}") from None


def _invalid(exc: DefinitionError) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message, "path": exc.path}},
                        status_code=422)  # fmt: skip


def _poke(refresher: SegmentRefresher | None, key: ApiKey) -> None:
    if refresher is not None:
        refresher.poke({key.tenant})


async def _store(fn: Any, *args: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args)
    except ProjectionStoreError as exc:
        raise QueryError(503, "projections_unavailable", str(exc).split("\n")[0][:300]) from None


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["customer_id", "address"])
    for row in rows:
        writer.writerow([row["customer_id"], row["address"] or ""])
    return out.getvalue()


def _now() -> datetime:
    return datetime.now(UTC)
