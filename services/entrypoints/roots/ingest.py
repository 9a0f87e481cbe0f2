"""The ingest API's composition: its slot, its transactional log, intake, keys, metrics, health."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from events.intake import EventIntake
from events.topics import TOUCHPOINTS
from services.attributes.sqlite import SqliteAttributeStore
from services.auth.sqlite import SqliteKeyStore
from services.imports.job_runner import ImportJobs, stopped_here, sweep
from services.imports.planning import Doors
from services.imports.sqlite_jobs import SqliteJobStore
from services.ingest.app import IngestDeps, create_app
from services.ingest.errors import IngestError
from services.ingest.recent_ids import RecentIds
from services.ingest.service import IngestService
from services.ingest.webhook_receiver import WebhookReceiver
from services.kafka.event_log import KafkaEventLog
from services.platform.heartbeats import HealthView
from services.platform.metrics import IngestMetrics, WebhookMetrics
from services.platform.settings import Settings
from services.platform.slots import claim_worker_slot
from services.platform.timeouts import install_request_deadlines
from services.privacy.wiring import open_sealer
from services.webhooks.cli import open_store


def ingest_deps(settings: Settings) -> IngestDeps:
    slot = claim_worker_slot(settings.data_dir, f"ingest-{settings.http_port}")
    event_log = KafkaEventLog(
        settings.kafka_bootstrap,
        TOUCHPOINTS,
        transactional_id=f"touchline-ingest-{settings.ingest_instance_id}-{settings.http_port}-{slot}",
        ack_timeout_ms=settings.kafka_ack_timeout_ms,
    )
    sealer = open_sealer(settings)
    attributes = SqliteAttributeStore(settings.attributes_db_path)
    intake = EventIntake(settings.default_phone_region, protector=sealer, attributes=attributes)
    registry = CollectorRegistry()
    metrics = IngestMetrics(registry)
    service = IngestService(
        intake, event_log, RecentIds(settings.dedup_cache_size), metrics=metrics
    )
    webhooks = WebhookReceiver(service, open_store(settings), metrics=WebhookMetrics(registry))
    return IngestDeps(
        settings,
        SqliteKeyStore(settings.keys_db_path),
        event_log,
        service,
        registry,
        metrics,
        HealthView(settings.kafka_bootstrap),
        webhooks,
        _import_jobs(settings, service, Doors(settings.default_phone_region, sealer, attributes)),
    )


def _import_jobs(settings: Settings, service: IngestService, doors: Doors) -> ImportJobs:
    """Upload jobs; those of this host's stopped processes are failed, old reports deleted."""
    store = SqliteJobStore(settings.imports_dir / "jobs.sqlite3")
    store.abandon(stopped_here, "the ingest process running it stopped; upload the file again "
                  "(it imports idempotently)")  # fmt: skip
    sweep(settings.imports_dir, settings.import_retention_hours * 3600)
    return ImportJobs(store, settings.imports_dir, doors, service.append_prepared,
                      settings.import_workers, settings.import_max_pending)  # fmt: skip


def ingest_app(settings: Settings) -> FastAPI:
    app = create_app(ingest_deps(settings))
    install_request_deadlines(
        app, settings, lambda status, code, message: IngestError(status, code, message).response()
    )
    return app


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker process."""
    return ingest_app(Settings.from_env())
