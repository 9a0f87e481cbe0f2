"""The agent's API and page: search, the 360 profile, the timeline, and a live stream (the routes).

It runs in the process that owns the projection store (the projector's, in
the embedded default: a chDB directory opens in one process only). Every
route is scoped to the caller's tenant; another tenant's customer is simply
not found (404). Bad parameters get 400 with what was wrong and where.
Profile and timeline reads are recorded in ``audit_reads``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from projections import reads
from projections.exports import subject_export
from projections.record_reads import customer_record, search_names, summaries
from projections.segments.reads import member_segments
from projections.timeline.model import HeadPage
from services.platform.docs import add_offline_docs
from services.platform.metrics import exposition
from services.platform.security_headers import SecurityHeaders
from services.query.auth import authenticate
from services.query.deps import QueryDeps
from services.query.entries import json_response, masked_entry, masked_text
from services.query.errors import QueryError, install_error_handlers
from services.query.live import live_events
from services.query.params import (
    TIMELINE_PARAMETERS,
    customer_uuid,
    encode_cursor,
    search_candidates,
    timeline_query,
)

STATIC = Path(__file__).with_name("static")


def create_query_app(deps: QueryDeps) -> FastAPI:
    app = FastAPI(
        title="Touchline agent API",
        version="1",
        docs_url=None,
        redoc_url=None,
        description="Find a customer and read one cross-channel timeline, live.",
    )
    add_offline_docs(app, "Touchline agent")
    install_error_handlers(app)
    app.add_middleware(SecurityHeaders)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        cache = deps.cache
        stages = deps.health.stages() if deps.health is not None else {}
        ok = all(h.state == "up" for h in stages.values())
        return {
            "status": "ok" if ok else "degraded",
            "stages": {name: h.as_dict() for name, h in stages.items()},
            "freshness": await deps.freshness(),
            "cache": {"kept": len(cache), "hits": cache.hits, "misses": cache.misses},
            "streams_waiting_on": len(deps.changes),
            "serving_index": deps.index.status() if deps.index else {"state": "off"},
        }

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        text, content_type = exposition(deps.registry or CollectorRegistry())
        return Response(text, media_type=content_type)

    @app.get("/v1/customers")
    async def search(
        request: Request,
        query: Annotated[str, Query(min_length=1, max_length=200)],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> Response:
        key = authenticate(request, deps.keys)
        masker = deps.masker(key.role)
        candidates = search_candidates(query, deps.region)
        # a masked role matches whole identifiers only: a prefix search would unmask one
        # character at a time (``alice.s`` a hit, ``alice.x`` none)
        prefix = query if masker.full else ""
        found = await deps.read(reads.search, key.tenant, candidates, prefix, limit, offset)
        for hit in found:
            hit["matched"] = [
                {"kind": m["kind"], "value": masker.identity(m["kind"], m["value"])}
                for m in hit["matched"]
            ]
        if offset == 0:  # names after identifiers, on the first page (a name is never masked)
            seen = {hit["customer_id"] for hit in found}
            named = await deps.read(search_names, key.tenant, query, True, limit)
            found += [
                {"customer_id": c, "match": "name", "matched": [{"kind": "name", "value": n}]}
                for c, n in named
                if c not in seen
            ][: max(limit - len(found), 0)]
        about = await deps.read(summaries, key.tenant, [hit["customer_id"] for hit in found])
        for hit in found:
            hit.update(about.get(hit["customer_id"], {}))
        return json_response(
            {
                "results": found,
                "limit": limit,
                "offset": offset,
                "interpreted_as": [f"{k}:{masker.identity(k, v)}" for k, v in candidates],
                "freshness": await deps.freshness(),
            }
        )

    @app.get("/v1/customers/{customer_id}")
    async def profile(request: Request, customer_id: str) -> Response:
        key = authenticate(request, deps.keys)
        survivor = (await deps.resolve(key, customer_uuid(customer_id))).survivor
        found = await deps.read(reads.profile, key.tenant, survivor)
        if found.erased:
            raise QueryError(410, "erased", f"customer {customer_id} was erased")
        deps.audit.record(key, str(survivor), "profile")
        masker = deps.masker(key.role)
        record = await deps.read(customer_record, key.tenant, [str(survivor), *found.aliases])
        body = {
            **found.__dict__,
            "identities": masker.identities(found.identities),
            "name": record.name,
            "profile": masker.profile(record.profile),
            "profile_sources": record.sources,
            "consent": masker.consent(record.consent),
            "undeliverable": [
                {**u, "address": masker.identity("email", u["address"])}
                for u in record.undeliverable
            ],
            "merges": [  # an agent sees who and on what basis, not a person's free-text reason
                m if masker.full or m.get("basis") == "identifier" else {**m, "reason": None}
                for m in record.merges
            ],
            "segments": await deps.read(
                member_segments, key.tenant, [str(survivor), *found.aliases]
            ),
            "requested_id": customer_id,
            "freshness": await deps.freshness(),
        }
        return json_response(body)

    @app.get(
        "/v1/customers/{customer_id}/timeline", openapi_extra={"parameters": TIMELINE_PARAMETERS}
    )
    async def timeline(request: Request, customer_id: str) -> Response:
        """Newest first, cursor-paginated; no default time window (parameters in ``params``)."""
        key = authenticate(request, deps.keys)
        query = timeline_query(request.query_params, deps.catalog.types)
        resolution = await deps.resolve(key, customer_uuid(customer_id))
        page = await deps.reader.page(key.tenant, resolution, query)
        deps.audit.record(key, str(resolution.survivor), "timeline")
        masker = deps.masker(key.role)
        if isinstance(page, HeadPage):
            entries: list[Any] = [
                masked_text(masker, text, fact)
                for text, fact in zip(page.texts, page.facts, strict=True)
            ]
        else:
            entries = [masked_entry(masker, e) for e in page.entries]
        return json_response(
            {
                "customer_id": str(resolution.survivor),
                "requested_id": customer_id,
                "entries": entries,
                "next_cursor": encode_cursor(*page.next_after) if page.next_after else None,
                "freshness": await deps.freshness(),
            }
        )

    @app.get("/v1/customers/{customer_id}/export")
    async def export(request: Request, customer_id: str) -> Response:
        """Everything held about one person as one document (an access request); supervisors
        only, unmasked, and audited as ``export``."""
        key = authenticate(request, deps.keys)
        if key.role != "supervisor":
            raise QueryError(
                403, "forbidden", f"role {key.role!r} cannot export a customer (supervisor)"
            )
        survivor = (await deps.resolve(key, customer_uuid(customer_id))).survivor
        found = await deps.read(subject_export, key.tenant, survivor)
        if found is None:  # gone between the two reads
            raise QueryError(404, "not_found", f"no customer {customer_id} in tenant {key.tenant}")
        if found["profile"]["erased"]:
            raise QueryError(410, "erased", f"customer {customer_id} was erased")
        deps.audit.record(key, str(survivor), "export")
        response = json_response({**found, "requested_id": customer_id})
        response.headers["Content-Disposition"] = f'attachment; filename="{survivor}.json"'
        return response

    @app.get("/v1/customers/{customer_id}/stream")
    async def stream(request: Request, customer_id: str) -> StreamingResponse:
        key = authenticate(request, deps.keys)
        survivor = (await deps.resolve(key, customer_uuid(customer_id))).survivor
        deps.audit.record(key, str(survivor), "stream")
        masker = deps.masker(key.role)
        return StreamingResponse(
            live_events(deps, request, key, survivor, masker),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
