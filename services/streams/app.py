"""Wiring the stream application: one faust app, two agents, the shared output writer.

Built by a factory (no app at import time) so that tests and ``touchline
worker`` choose the settings. The worker processes batches
(``stream.take_events``) rather than single events: faust's per-event cost is
the known bottleneck (robinhood/faust #563).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import faust
import orjson
from prometheus_client import CollectorRegistry

from events.topics import ENGAGEMENT_TABLE, IDENTITY_COMMANDS, RESOLVED, TOUCHPOINTS
from services.compat.faust import StreamApp, in_event_of, publish_changelog
from services.engagement.stage import EngagementStage
from services.identity.resolver import IdentityResolver
from services.identity.stage import IdentityStage
from services.identity.store import eventsourcing_env
from services.kafka.output import OutputWriter
from services.platform.metrics import StageMetrics
from services.platform.settings import Settings
from services.privacy.wiring import open_key_store
from services.streams.contiguity import ContiguousFeed, RangeReader
from services.streams.heartbeat import WorkerBeat
from services.streams.log_gaps import LogGaps

BATCH_WAIT_S = 0.1
T = TypeVar("T")
log = logging.getLogger(__name__)


def create_stream_app(
    settings: Settings,
    store: str = "rocksdb://",
    state_dir: Path | None = None,
    registry: CollectorRegistry | None = None,
    gaps: LogGaps | None = None,
) -> faust.App:
    """``state_dir``: this worker's own table folder (RocksDB locks it: one worker each);
    ``gaps``: the offsets aiokafka skipped, when the worker installed the noting of them."""
    app = StreamApp(
        settings.worker_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=store,
        datadir=str(state_dir or settings.data_dir / "faust"),
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_acks=-1,
        # The changelog carries whole per-customer states, several per partition per
        # batch: one compressed request per partition instead of one per record.
        producer_max_batch_size=512 * 1024,
        producer_compression_type="lz4",
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=settings.worker_batch_size * 4,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite identity store lives here
    metrics = StageMetrics(registry or CollectorRegistry())
    out = OutputWriter(settings.kafka_bootstrap, metrics)
    resolver = IdentityResolver(eventsourcing_env(settings.identity_store_url))
    identity = IdentityStage(resolver, out, open_key_store(settings))
    states = app.Table(
        ENGAGEMENT_TABLE,
        default=None,
        partitions=settings.kafka_partitions,
        key_type=str,
        value_type=bytes,
    )
    states_table = FaustStateTable(states)
    engagement = EngagementStage(states_table, out)
    touchpoints = app.topic(TOUCHPOINTS, key_serializer="raw", value_serializer="raw")
    resolved = app.topic(RESOLVED, key_serializer="raw", value_serializer="raw")
    commands = app.topic(IDENTITY_COMMANDS, key_serializer="raw", value_serializer="raw")
    batch = settings.worker_batch_size

    @app.task  # type: ignore[untyped-decorator]
    async def start_output() -> None:
        await out.start()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_output(app: Any, **kwargs: Any) -> None:
        await out.stop()

    reader = RangeReader(settings.kafka_bootstrap, settings.worker_group)
    touchpoints_feed = ContiguousFeed(
        TOUCHPOINTS, reader, identity_position(resolver), lambda: app.consumer, gaps, metrics
    )
    commands_feed = ContiguousFeed(
        IDENTITY_COMMANDS,
        reader,
        identity_position(resolver, IDENTITY_COMMANDS),
        lambda: app.consumer,
        metrics=metrics,
    )
    resolved_feed = ContiguousFeed(
        RESOLVED, reader, engagement_position(states_table), lambda: app.consumer, metrics=metrics
    )
    beating = WorkerBeat(app, settings, metrics, out, identity)

    @app.task  # type: ignore[untyped-decorator]
    async def start_heartbeat() -> None:
        beating.start()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_heartbeat(app: Any, **kwargs: Any) -> None:
        await beating.stop()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_reader(app: Any, **kwargs: Any) -> None:
        await reader.stop()

    @app.agent(touchpoints, name="resolve_identities")
    async def resolve_identities(stream: Any) -> None:
        async for events in stream.take_events(batch, within=BATCH_WAIT_S):
            started = time.perf_counter()
            fed = await until_done(touchpoints_feed.complete, events)
            await until_done(identity.handle, fed)
            touchpoints_feed.settle(fed)
            _count(metrics, "identity", TOUCHPOINTS, fed, started)

    @app.agent(commands, name="apply_identity_commands")
    async def apply_identity_commands(stream: Any) -> None:
        async for events in stream.take_events(100, within=BATCH_WAIT_S):
            started = time.perf_counter()
            fed = await until_done(commands_feed.complete, events)
            await until_done(identity.handle_commands, fed)
            commands_feed.settle(fed)
            _count(metrics, "identity", IDENTITY_COMMANDS, fed, started)

    @app.agent(resolved, name="track_engagement")
    async def track_engagement(stream: Any) -> None:
        async for events in stream.take_events(batch, within=BATCH_WAIT_S):
            started = time.perf_counter()
            fed = await until_done(resolved_feed.complete, events)
            carriers = {r.partition: r.carrier for r in reversed(fed)}  # each partition's first
            positions = [
                (position_key(partition), position, carriers[partition])
                for partition, position in resolved_feed.positions(fed).items()
            ]
            # The table's changelog must be durable before faust may commit these
            # offsets; otherwise a crash in between loses state (found by the SIGKILL test).
            await until_done(
                functools.partial(engagement.handle, after=positions),
                [(r.value, r.carrier) for r in fed],
            )
            resolved_feed.settle(fed)
            _count(metrics, "engagement", RESOLVED, fed, started)

    app.touchline_stages = (identity, engagement)  # type: ignore[attr-defined]
    return app


def _count(
    metrics: StageMetrics, stage: str, topic: str, fed: Sequence[Any], started: float
) -> None:
    for partition, n in Counter(record.partition for record in fed).items():
        metrics.processed.labels(stage, topic, str(partition)).inc(n)
    metrics.batch_seconds.labels(stage).observe(time.perf_counter() - started)


def position_key(partition: int) -> str:
    """Where the engagement stage keeps its position in a partition (in that partition's store)."""
    return f"__position__|{partition}"


def engagement_position(table: Any) -> Callable[[int], int | None]:
    def position(partition: int) -> int | None:
        found = table.get(position_key(partition))
        return None if found is None else int(found)

    return position


def identity_position(
    resolver: IdentityResolver, topic: str = TOUCHPOINTS
) -> Callable[[int], int | None]:
    def position(partition: int) -> int | None:
        done = resolver.recorder.max_tracking_id(f"{topic}-{partition}")
        return None if done is None else int(done) + 1

    return position


async def until_done(handle: Callable[[Any], Awaitable[T]], batch: Any) -> T:
    """Retry a batch until it succeeds, with backoff.

    faust acknowledges a batch's offsets when the agent moves past it, even if
    the agent raised; a failure must therefore never leave this function. A
    bad *record* is dead-lettered by the stage itself; what reaches here is
    infrastructure (store, broker) and is worth waiting for. The stall shows
    as consumer lag and in the log, instead of as lost events.
    """
    delay = 0.5
    while True:
        try:
            return await handle(batch)
        except Exception:
            log.exception("batch failed; retrying in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


class FaustStateTable:
    """The faust table behind ``StateTable``: states as orjson bytes, the changelog sent in bulk.

    Values are stored raw (``value_type=bytes``: the raw codec) and (de)serialized here
    with orjson; they are the same JSON that faust's json codec wrote, so an
    older store or changelog still reads.

    ``put`` writes the store at once, in the context of the event that carried
    its key (``compat.faust.in_event_of``), and queues the changelog record;
    ``persist`` publishes the queued records together and returns once the
    broker has acknowledged every one (``compat.faust.publish_changelog``).
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self._unsent: dict[tuple[int, str], bytes] = {}

    def get(self, key: str) -> Any:
        found = self.table.get(key)
        return None if found is None else orjson.loads(found)

    def put(self, key: str, state: Any, carrier: Any) -> None:
        value = orjson.dumps(state)
        with in_event_of(carrier):
            partition = self.table.partition_for_key(key)
            self.table.data[key] = value
        self._unsent[(partition, key)] = value

    async def persist(self) -> None:
        """Send the queued changelog records and wait for every acknowledgement.

        Records stay queued until all are acknowledged, so a retry after a
        failure sends them again (the changelog is compacted by key).
        """
        if not self._unsent:
            return
        await asyncio.gather(*await publish_changelog(self.table, self._unsent))
        self._unsent.clear()
