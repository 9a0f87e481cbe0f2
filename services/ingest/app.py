"""The ingest ASGI application (FastAPI, for its OpenAPI document).

Bodies are read and decoded by hand rather than through pydantic models:
validation against the JSON Schemas in ``schemas/`` is the contract, and doing
it once, compiled, is what keeps ingest close to raw Kafka speed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.responses import Response

from events.catalog import load_catalog
from services.auth.keys import KeyStore
from services.imports.job_runner import ImportJobs
from services.ingest.errors import IngestError, json_response
from services.ingest.http import authenticate, decode_events, read_limited
from services.ingest.imports import imports_router
from services.ingest.openapi import EVENTS_REQUEST, EVENTS_RESPONSES
from services.ingest.service import IngestService
from services.ingest.webhook_receiver import WebhookReceiver
from services.ingest.webhook_route import webhook_router
from services.kafka.event_log import EventLog
from services.platform.docs import add_offline_docs
from services.platform.heartbeats import Beating, HealthView, HeartbeatSender, LastError, Vitals
from services.platform.metrics import IngestMetrics, RequestTimer, exposition
from services.platform.security_headers import SecurityHeaders
from services.platform.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IngestDeps:
    """What the routes use; built once by ``create_app`` (tests may pass their own)."""

    settings: Settings
    keys: KeyStore
    log: EventLog
    service: IngestService
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    metrics: IngestMetrics | None = None
    health: HealthView | None = None  # the processing stages, as their heartbeats tell
    webhooks: WebhookReceiver | None = None  # provider webhooks; None: no webhook route
    imports: ImportJobs | None = None  # upload jobs (POST /v1/imports); None: no such route


def create_app(deps: IngestDeps) -> FastAPI:

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await deps.log.start()
        beating = _heartbeat(deps)
        if deps.health is not None:
            deps.health.start()
        try:
            yield
        finally:
            if deps.imports is not None:
                deps.imports.stop()
            if deps.health is not None:
                await deps.health.stop()
            if beating is not None:
                await beating.stop()
            await deps.log.stop()

    app = FastAPI(
        title="Touchline ingest API",
        version="1",
        description="Append customer touchpoints to the Touchline event log.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    add_offline_docs(app, "Touchline ingest")
    app.add_middleware(SecurityHeaders)
    app.state.deps = deps
    _add_routes(app, deps)
    if deps.webhooks is not None:
        app.include_router(webhook_router(deps.webhooks, deps.settings.webhook_max_body_bytes,
                                          deps.settings.webhook_public_url))  # fmt: skip
    if deps.imports is not None:
        app.include_router(imports_router(deps.keys, deps.imports, deps.settings))
    if deps.metrics is not None:
        app.add_middleware(RequestTimer, metrics=deps.metrics)
    return app


def _heartbeat(deps: IngestDeps) -> Beating | None:
    """Ingest beats too, so `touchline status` shows every instance and its rate."""
    if deps.metrics is None:  # a test's hand-built deps: nothing to report
        return None
    errors = LastError()
    logging.getLogger().addHandler(errors)

    async def vitals() -> Vitals:
        return Vitals(processed=deps.service.accepted)

    sender = HeartbeatSender(deps.settings.kafka_bootstrap, "ingest", vitals, errors)
    sender.running()
    return Beating(sender)


def _metrics_text(deps: IngestDeps) -> tuple[bytes, str]:
    """This process's metrics, or every worker's when uvicorn runs several (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return exposition(registry)
    return exposition(deps.registry)


def _add_routes(app: FastAPI, deps: IngestDeps) -> None:
    limits = deps.settings

    @app.post(
        "/v1/events",
        status_code=202,
        summary="Publish one event or a batch",
        openapi_extra=EVENTS_REQUEST,
        responses=EVENTS_RESPONSES,
    )
    async def post_events(request: Request) -> Response:
        try:
            key = authenticate(request, deps.keys)
            body = await read_limited(request, limits.max_body_bytes)
            events = decode_events(body, limits.max_batch_events)
            accepted = await deps.service.ingest(key, events)
        except IngestError as err:
            if deps.metrics is not None and err.status in (400, 401, 413):
                deps.metrics.requests_rejected.labels(str(err.status), err.code).inc()
            return err.response()
        return json_response(accepted.as_dict(), 202)

    @app.get("/healthz", summary="Whether the service can reach Kafka, and the stages behind it")
    async def healthz() -> Response:
        """503 only when Kafka is unreachable: with the stages down, events are still kept."""
        stages = deps.health.stages() if deps.health is not None else {}
        body: dict[str, Any] = {"stages": {n: h.as_dict() for n, h in stages.items()}}
        if not await deps.log.reachable():
            return json_response({"status": "unavailable", "kafka": "unreachable", **body}, 503)
        ok = all(h.state == "up" for h in stages.values())
        return json_response(
            {"status": "ok" if ok else "degraded", "kafka": "reachable", **body}, 200
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        text, content_type = _metrics_text(deps)
        return Response(text, media_type=content_type)

    @app.get("/v1/event-types", summary="The event types and schema versions accepted")
    async def event_types() -> dict[str, Any]:
        catalog = load_catalog()
        return {
            "types": [
                {
                    "type": t.name,
                    "versions": t.versions,
                    "latest_version": t.latest_version,
                    "channels": sorted(t.allowed_channels()),
                    "description": t.description,
                }
                for t in catalog.types.values()
            ]
        }
