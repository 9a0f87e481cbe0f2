"""The ingest ASGI application (FastAPI, for its OpenAPI document).

Bodies are read and decoded by hand rather than through pydantic models:
validation against the JSON Schemas in ``schemas/`` is the contract, and doing
it once, compiled, is what keeps ingest close to raw Kafka speed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from events.catalog import load_catalog
from events.intake import EventIntake
from services.auth.keys import KeyStore
from services.auth.sqlite import SqliteKeyStore
from services.ingest.errors import IngestError, json_response
from services.ingest.http import authenticate, decode_events, read_limited
from services.ingest.openapi import EVENTS_REQUEST, EVENTS_RESPONSES
from services.ingest.recent_ids import RecentIds
from services.ingest.service import IngestService
from services.ingest.worker_slot import claim_worker_slot
from services.kafka.event_log import EventLog, KafkaEventLog
from services.kafka.topics import TOUCHPOINTS
from services.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IngestDeps:
    """What the routes use; built once by ``create_app`` (tests may pass their own)."""

    settings: Settings
    keys: KeyStore
    log: EventLog
    service: IngestService


def build_deps(settings: Settings) -> IngestDeps:
    slot = claim_worker_slot(settings.data_dir, f"ingest-{settings.http_port}")
    event_log = KafkaEventLog(
        settings.kafka_bootstrap,
        TOUCHPOINTS,
        transactional_id=f"touchline-ingest-{settings.ingest_instance_id}-{settings.http_port}-{slot}",
        ack_timeout_ms=settings.kafka_ack_timeout_ms,
    )
    intake = EventIntake(settings.default_phone_region)
    service = IngestService(intake, event_log, RecentIds(settings.dedup_cache_size))
    return IngestDeps(settings, SqliteKeyStore(settings.keys_db_path), event_log, service)


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker process."""
    return create_app(Settings.from_env())


def create_app(settings: Settings, deps: IngestDeps | None = None) -> FastAPI:
    deps = deps or build_deps(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await deps.log.start()
        try:
            yield
        finally:
            await deps.log.stop()

    app = FastAPI(
        title="Touchline ingest API",
        version="1",
        description="Append customer touchpoints to the Touchline event log.",
        lifespan=lifespan,
    )
    app.state.deps = deps
    _add_routes(app, deps)
    return app


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
            return err.response()
        return json_response(accepted.as_dict(), 202)

    @app.get("/healthz", summary="Whether the service can reach Kafka")
    async def healthz() -> Response:
        if await deps.log.reachable():
            return json_response({"status": "ok", "kafka": "reachable"}, 200)
        return json_response({"status": "unavailable", "kafka": "unreachable"}, 503)

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
