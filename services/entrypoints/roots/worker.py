"""``touchline worker``: run the stream processors until SIGINT/SIGTERM.

Several workers may run on one host: each claims a slot (the lowest free
number), which gives it its own table folder (RocksDB locks one per process)
and its own metrics port; they share the partitions through the group.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, start_http_server

from services.compat.aiokafka import install_gap_noting
from services.compat.faust import QuietWorker
from services.kafka.topics import ensure_topics
from services.platform.settings import Settings
from services.platform.slots import claim_worker_slot
from services.streams.app import create_stream_app
from services.streams.log_gaps import LogGaps

log = logging.getLogger(__name__)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    slot = claim_worker_slot(settings.data_dir, f"worker-{settings.worker_group}")
    registry = CollectorRegistry()
    serve_metrics(settings, slot, registry)
    create_topics_first(settings)
    state_dir = settings.data_dir / "faust" / f"worker-{slot}"
    state_dir.mkdir(parents=True, exist_ok=True)
    gaps = LogGaps()
    install_gap_noting(gaps)  # this process's aiokafka consumers note what they skip
    app = create_stream_app(settings, state_dir=state_dir, registry=registry, gaps=gaps)
    worker = QuietWorker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()


def serve_metrics(settings: Settings, slot: int, registry: CollectorRegistry) -> None:
    """``/metrics`` on the slot's port (off when the base port is 0)."""
    if not settings.worker_metrics_port:
        return
    port = settings.worker_metrics_port + slot
    try:
        start_http_server(port, addr=settings.http_host, registry=registry)
    except OSError as exc:
        log.warning("worker metrics not served: port %d: %s", port, exc.strerror)


def create_topics_first(settings: Settings) -> None:
    """Create the topics (the table's changelog among them) before faust subscribes.

    On a loop of its own that is never made current: ``asyncio.run`` would
    leave the thread with no event loop, and faust looks one up.
    """
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(ensure_topics(settings), 10))
    except Exception as exc:  # faust still starts and waits for the broker itself
        log.warning("could not ensure topics at %s: %s", settings.kafka_bootstrap, exc)
    finally:
        loop.close()
