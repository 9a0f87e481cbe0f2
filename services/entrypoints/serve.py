"""Running the HTTP app under uvicorn."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from services.compat.uvicorn import HeaderTimeoutProtocol
from services.kafka.topics import ensure_topics
from services.platform.settings import Settings

log = logging.getLogger(__name__)


def serve_http(settings: Settings) -> None:
    """Serve until interrupted; topics are created first when the broker is up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(asyncio.wait_for(ensure_topics(settings), 10))
    except Exception as exc:  # the API still starts; /healthz and 503s tell the broker is down
        log.warning("could not ensure topics at %s: %s", settings.kafka_bootstrap, exc)
    uvicorn.run(
        "services.entrypoints.roots.ingest:app_from_env",
        factory=True,
        workers=settings.http_workers,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http=HeaderTimeoutProtocol,  # httptools' protocol with a header deadline
    )
