"""``touchline projector``: the process that owns the projection store, composed in one place.

It runs the projector (Kafka to ClickHouse) and serves the agent API and
page from the same store, in one event loop: an embedded chDB directory opens
in one process only, so the reads must live where the writes do. The
projector knows only sinks; the serving index and the read side (cache and
live streams) are handed to it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from functools import partial

import uvicorn
import uvloop
from prometheus_client import CollectorRegistry

from projections.flushes import Flush
from projections.migrations import apply_migrations
from projections.opening import Opener
from projections.projector import SOURCES, Projector, ProjectorConfig
from projections.segments.definitions import SqliteSegmentStore
from projections.serving_index import IndexMirror, ServingIndex
from projections.sinks import ServingIndexSink, Sink
from projections.store import ProjectionStore, ProjectionStoreError, open_projection_store
from services.auth.sqlite import SqliteKeyStore
from services.identity.cli import send_command
from services.kafka.lag import LagProbe
from services.platform.heartbeats import Beating, HealthView, HeartbeatSender, LastError, Vitals
from services.platform.metrics import ProjectorMetrics, RequestTimer
from services.platform.readside_metrics import ReadSideCollector
from services.platform.settings import Settings
from services.platform.timeouts import install_request_deadlines
from services.privacy.wiring import open_protector
from services.query.admin import Replays, admin_router
from services.query.analyst_api import analyst_router
from services.query.analyst_page import analyst_page_router
from services.query.app import create_query_app
from services.query.audit import AuditLog
from services.query.cache import ReadCache
from services.query.changes import ChangeFeed
from services.query.deps import QueryDeps
from services.query.errors import QueryError
from services.query.readside import ReadSideSink
from services.query.review_api import review_router
from services.query.segments_api import segments_router
from services.review.queue import ReviewQueue
from services.review.schedule import review_every
from services.segments.publishing import KafkaSegmentPublisher
from services.segments.refresher import SegmentRefresher, SegmentTrigger

log = logging.getLogger("touchline.projector")


def run_projection_service(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        store = open_projection_store(settings.clickhouse_url)
    except ProjectionStoreError as exc:
        print(f"touchline projector: {exc}", file=sys.stderr)
        return 3
    try:
        apply_migrations(store)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(settings, store))
    finally:
        store.close()
    return 0


async def _serve(settings: Settings, store: ProjectionStore) -> None:
    cache, changes = ReadCache(settings.query_cache_customers), ChangeFeed()
    loop = asyncio.get_running_loop()
    index = (
        ServingIndex(settings.serving_index_path, resident=settings.serving_index_resident)
        if settings.serving_index_path
        else None
    )
    registry = CollectorRegistry()
    metrics = ProjectorMetrics(registry)
    followers: list[Sink] = [ServingIndexSink(index)] if index is not None else []
    followers.append(ReadSideSink(cache, changes, loop))
    segments = SqliteSegmentStore(settings.segments_db_path)
    publisher = KafkaSegmentPublisher(settings.kafka_bootstrap)
    refresher = SegmentRefresher(store, segments, publisher, settings.sql_limits(),
                                 settings.segments_refresh_s, settings.segments_debounce_ms / 1000)  # fmt: skip
    followers.append(SegmentTrigger(refresher, loop))
    config = ProjectorConfig(
        settings.projector_group,
        settings.projector_flush_rows,
        settings.projector_flush_ms / 1000,
        precedence=settings.profile_source_precedence,
    )
    protector = open_protector(settings)
    opener = Opener(protector) if protector is not None else None
    projector = Projector(
        store,
        settings.kafka_bootstrap,
        config,
        followers,
        on_flush=lambda flush, rows: _count_flush(metrics, projector, flush, rows),
        opener=opener,
    )
    registry.register(ReadSideCollector(cache, projector.freshness))
    audit = AuditLog(store)
    keys = SqliteKeyStore(settings.keys_db_path)
    health = HealthView(settings.kafka_bootstrap)
    deps = QueryDeps(
        store,
        keys,
        audit,
        settings.default_phone_region,
        cache=cache,
        changes=changes,
        index=index,
        freshness_of=projector.freshness,
        health=health,
        registry=registry,
    )
    app = create_query_app(deps)
    queue = ReviewQueue(store)
    app.include_router(review_router(deps, queue, partial(send_command, settings.kafka_bootstrap)))
    app.add_middleware(RequestTimer, metrics=metrics)
    mirroring = IndexMirror(index, store, projector.writing) if index is not None else None

    def swapped() -> None:  # from the replay's thread
        cache.clear()
        loop.call_soon_threadsafe(changes.notify_all)
        if mirroring is not None:
            mirroring.rebuild()

    replays = Replays(store, settings.kafka_bootstrap, projector.writing, swapped=swapped,
                      opener=opener, precedence=settings.profile_source_precedence)  # fmt: skip
    app.include_router(admin_router(keys, replays))
    app.include_router(analyst_router(store, keys, settings.sql_limits()))
    app.include_router(analyst_page_router())
    app.include_router(
        segments_router(store, keys, segments, settings.sql_limits(), audit, refresher)
    )
    protocol = install_request_deadlines(
        app, settings, lambda status, code, message: QueryError(status, code, message).response()
    )
    serving_config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.query_port,
        log_level="warning",
        lifespan="off",
        http=protocol,
    )
    quiet_collector()
    server = QuietServer(serving_config)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health.start()
    probe = LagProbe(settings.kafka_bootstrap, settings.projector_group, list(SOURCES))
    beating = Beating(_beat(settings, projector, metrics, probe))
    projecting = asyncio.create_task(projector.run())
    await publisher.start()
    refreshing = asyncio.create_task(refresher.run())
    serving = asyncio.create_task(server.serve())
    auditing = asyncio.create_task(audit.run(settings.audit_flush_ms / 1000))
    residing = asyncio.create_task(_keep_resident(index)) if index is not None else None
    reviewing = asyncio.create_task(review_every(queue, settings.review_every_s))
    if mirroring is not None:
        threading.Thread(target=mirroring.start, daemon=True, name="serving-index").start()
    log.info("agent page and API on http://%s:%d/, analyst page on /analyst", settings.http_host,
             settings.query_port)  # fmt: skip
    done = asyncio.create_task(stop.wait())
    await asyncio.wait({done, projecting, serving, refreshing}, return_when=asyncio.FIRST_COMPLETED)
    projector.stop()
    server.should_exit = True
    auditing.cancel()
    reviewing.cancel()
    refreshing.cancel()
    if residing is not None:
        residing.cancel()
    failures = []
    for task in (projecting, serving, auditing, reviewing, refreshing,
                 *([residing] if residing else [])):  # fmt: skip
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the projector or the server died: stop, and say why
            log.exception("%s failed", task.get_coro())
            failures.append(exc)
    done.cancel()
    await beating.stop()
    await probe.stop()
    await health.stop()
    await publisher.stop()
    segments.close()
    keys.close()
    if index is not None:
        index.close()
    if failures:
        raise failures[0]


def _count_flush(
    metrics: ProjectorMetrics, projector: Projector, flush: Flush, written: dict[str, int]
) -> None:
    for table, rows in written.items():
        metrics.rows.labels(table).inc(rows)
    for tp, (first, last) in flush.ranges.items():
        metrics.processed.labels("projector", tp.topic, str(tp.partition)).inc(last - first + 1)
    metrics.flush_seconds.observe(projector.stats.last_flush_s)


def _beat(
    settings: Settings, projector: Projector, metrics: ProjectorMetrics, probe: LagProbe
) -> HeartbeatSender:
    """The projector's heartbeat: its group's lag (also the lag gauges), records and rows."""
    errors = LastError()
    logging.getLogger().addHandler(errors)

    async def vitals() -> Vitals:
        if projector.running:
            sender.running()
        lag = await probe.by_partition()
        totals: dict[str, int] = {}
        if lag is not None:
            metrics.set_lag("projector", lag)
            for tp, behind in lag.items():
                totals[tp.topic] = totals.get(tp.topic, 0) + behind
        return Vitals(projector.stats.records, 0, totals, {"rows": projector.stats.rows})

    sender = HeartbeatSender(settings.kafka_bootstrap, "projector", vitals, errors)
    return sender


async def _keep_resident(index: ServingIndex, every_s: float = 2.0) -> None:
    """The index's new pages locked in memory every few seconds (``projections.resident``):
    the agents' reads of it, on the event loop, then never wait for the disk."""
    while True:
        await asyncio.to_thread(index.keep_resident)
        await asyncio.sleep(every_s)


def quiet_collector() -> None:
    """Fewer, shorter garbage-collector pauses while agents read.

    The read cache holds about a hundred thousand small objects. With the
    default thresholds a full collection, which walks every one of them on
    the event loop, comes every 70,000 allocations; at 50 agents reading new
    customers, p99 was 309 ms with those and 162 ms with these (one run
    each, 1 M rows). What exists at start (modules, settings) is frozen out of
    collections; the young generation is collected every 50,000 allocations,
    not 700, and the old one rarely. The middle one is collected every 5
    young collections, not 50: at 10 M rows it held the survivors of 50 (about
    100,000 objects: resolutions, their watchers, a rebuild's rows) and one
    collection of it stopped the loop for 52-112 ms, the largest stall left
    in the 50-agent runs (measured with a collector callback).
    """
    gc.freeze()
    gc.set_threshold(50_000, 5, 1000)


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service decides how everything stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
