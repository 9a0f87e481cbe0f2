"""ClickHouse projections: projector speed, timeline reads at scale, replay, freshness.

Prints, in one run:
  * projector rows/s (records -> rows -> chDB insert) and a direct chDB insert of the
    same rows, with the ratio (the direct insert is the baseline);
  * one customer's timeline query, p50/p99, on a table of --rows rows (default 10 M);
  * replay events/s (``touchline replay touchpoints`` on the same data);
  * freshness: ingest's 202 (``received_at``) to the row being in ``touchpoints``
    (``projected_at``), p50/p95, with API, worker and projector running at default settings.

    .venv/bin/python -m bench.projections [--rows 10000000] [--rate 100] [--seconds 30]
                                          [--warmup 45]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
from aiokafka import AIOKafkaConsumer

from bench.common import TOUCHLINE, Stack, private_stack, valid_events
from bench.http_client import KeepAliveConnection
from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from projections import rows
from projections.log import end_offsets
from projections.migrations import apply_migrations
from projections.replay import replay
from projections.store import open_projection_store
from services.kafka.lag import group_lag


def start(stack: Stack, command: str, workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**stack.env, "TOUCHLINE_CLICKHOUSE_URL": f"chdb://{workdir / 'clickhouse'}"}
    return subprocess.Popen([TOUCHLINE, command, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def wait_idle(stack: Stack, group: str, topics: list[str], deadline_s: float = 600) -> None:
    deadline = time.monotonic() + deadline_s
    while asyncio.run(group_lag(stack.settings.kafka_bootstrap, group, topics)) != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{group} did not catch up")
        time.sleep(0.25)


def wait_resolved(stack: Stack, count: int, deadline_s: float = 600) -> None:
    """Until ``touchpoints.resolved`` holds at least ``count`` records (the worker is running)."""
    deadline = time.monotonic() + deadline_s
    while (
        sum(asyncio.run(end_offsets(stack.settings.kafka_bootstrap, [RESOLVED])).values()) < count
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker resolved nothing")
        time.sleep(0.25)


def wait_all_resolved(stack: Stack, event_ids: set[str], deadline_s: float = 600) -> None:
    """Until every one of ``event_ids`` is in ``touchpoints.resolved``.

    Not the worker group's lag: ingest's last transaction marker in each
    partition is never delivered, so that lag can stay above zero when done.
    """

    async def read() -> None:
        consumer = AIOKafkaConsumer(RESOLVED, bootstrap_servers=stack.settings.kafka_bootstrap,
                                    group_id=None, auto_offset_reset="earliest",
                                    enable_auto_commit=False)  # fmt: skip
        await consumer.start()
        try:
            waiting, deadline = set(event_ids), time.monotonic() + deadline_s
            while waiting:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(waiting)} events never reached {RESOLVED}")
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        waiting.discard(orjson.loads(r.value).get("event_id"))
        finally:
            await consumer.stop()

    asyncio.run(read())


async def send_paced(stack: Stack, events: list[dict[str, Any]], rate: float) -> None:
    """One event per request at ``rate``/s: what freshness means to an agent watching a timeline.

    Sent with the bench's keep-alive client over a few connections: httpx would
    take half a core at 100 requests/s, starving the processes being measured.
    """
    url = urlsplit(stack.url)
    headers = {"Authorization": f"Bearer {stack.key}", "Content-Type": "application/json"}
    idle: asyncio.Queue[KeepAliveConnection] = asyncio.Queue()
    for _ in range(8):
        idle.put_nowait(KeepAliveConnection(url.hostname or "127.0.0.1", url.port or 80, headers))
    start = time.perf_counter()

    async def send(i: int, event: dict[str, Any]) -> None:
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        connection = await idle.get()
        try:
            status, body = await connection.post("/v1/events", orjson.dumps(event))
        finally:
            idle.put_nowait(connection)
        if status != 202:
            raise RuntimeError(f"ingest answered {status}: {body[:200]!r}")

    try:
        await asyncio.gather(*(send(i, e) for i, e in enumerate(events)))
    finally:
        while not idle.empty():
            await idle.get_nowait().close()


def freshness(
    stack: Stack, workdir: Path, rate: float, seconds: float, warmup_s: float
) -> tuple[list[float], int]:
    """Lags of ``seconds`` of traffic at ``rate``, after ``warmup_s`` of the same traffic.

    The warm-up is outside the window: a broker just started spends half a
    core compiling (its C2 JIT thread, measured) for the first minute, and
    what is measured here is the steady state people run in.
    """
    worker = start(stack, "worker", workdir, "--loglevel", "warning")
    projector = start(stack, "projector", workdir)
    try:
        warm = valid_events(max(int(rate * warmup_s), 200), seed=7)
        asyncio.run(send_paced(stack, warm, rate))  # start-up, group joins, JIT: outside the window
        # the worker first: until it has joined, the projector has nothing to lag behind on
        # (its committed offsets stop short of ingest's last transaction marker: not a lag test)
        wait_resolved(stack, len(warm))
        wait_idle(stack, stack.settings.projector_group, [RESOLVED, CUSTOMERS, SCORES, DEADLETTER])
        events = valid_events(int(rate * seconds), seed=8)
        since = datetime.now(UTC)
        asyncio.run(send_paced(stack, events, rate))
        # the worker first: the projector can be idle while the worker still holds the
        # slowest events, and those would be left out of the figures
        wait_all_resolved(stack, {e["event_id"] for e in events})
        wait_idle(stack, stack.settings.projector_group, [RESOLVED])
    finally:
        for child in (worker, projector):
            child.terminate()
            child.wait(60)
    store = open_projection_store(f"chdb://{workdir / 'clickhouse'}")
    try:
        lags = store.query_rows(
            "SELECT dateDiff('millisecond', received_at, projected_at) FROM touchpoints "
            "WHERE received_at >= {since:DateTime64(3)}",
            {"since": since},
        )
    finally:
        store.close()
    return [float(r[0]) / 1000 for r in lags], len(events)


def resolved_records(stack: Stack) -> list[rows.SourceRecord]:
    async def read() -> list[rows.SourceRecord]:
        consumer = AIOKafkaConsumer(RESOLVED, bootstrap_servers=stack.settings.kafka_bootstrap,
                                    group_id=None, auto_offset_reset="earliest",
                                    enable_auto_commit=False)  # fmt: skip
        await consumer.start()
        try:
            found: list[rows.SourceRecord] = []

            def keep(got: dict[Any, list[Any]]) -> None:
                for records in got.values():
                    found.extend(rows.SourceRecord(r.topic, r.partition, r.offset, r.key, r.value,
                                                   r.timestamp) for r in records)  # fmt: skip

            for _ in range(200):  # the group-less subscription is assigned on first poll
                if consumer.assignment():
                    break
                keep(await consumer.getmany(timeout_ms=50))
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while sum([await consumer.position(tp) for tp in ends]) < sum(ends.values()):
                keep(await consumer.getmany(timeout_ms=500))
            return found
        finally:
            await consumer.stop()

    return [r for r in asyncio.run(read()) if rows.event_key(r) is not None]


def insert_speed(records: list[rows.SourceRecord], workdir: Path) -> tuple[float, float]:
    """Projector path (map + insert) against a direct insert of the already-mapped rows.

    Both write the same ``touchpoints`` table, materialized views included, in
    alternating rounds: the baseline is what ClickHouse itself costs for these
    rows, so the ratio is what mapping in Python adds. (A view-less copy of the
    table, the baseline before, skipped the three aggregate views every
    projector insert feeds, and so measured less work than the projector does.)
    """
    store = open_projection_store(f"chdb://{workdir / 'insert-bench'}")
    try:
        apply_migrations(store)
        mapped = rows.touchpoint_rows(records)
        best_direct, best_projector = 0.0, 0.0
        for round_ in range(5):
            t = time.perf_counter()
            store.insert_arrow("touchpoints", mapped, f"direct-{round_}")
            best_direct = max(best_direct, mapped.num_rows / (time.perf_counter() - t))
            t = time.perf_counter()
            table = rows.touchpoint_rows(records)
            store.insert_arrow("touchpoints", table, f"projector-{round_}")
            best_projector = max(best_projector, table.num_rows / (time.perf_counter() - t))
        return best_projector, best_direct
    finally:
        store.close()


def timeline_latency(total_rows: int, workdir: Path, samples: int = 300) -> tuple[list[float], int]:
    """One customer's newest 50 events (through its aliases), on ``total_rows`` synthetic rows."""
    store = open_projection_store(f"chdb://{workdir / 'timeline-bench'}")
    try:
        apply_migrations(store)
        customers = [str(uuid.uuid4()) for _ in range(max(total_rows // 200, 1))]
        start = datetime(2025, 1, 1, tzinfo=UTC)
        chunk = 1_000_000
        for first in range(0, total_rows, chunk):
            n = min(chunk, total_rows - first)
            store.insert_arrow(
                "touchpoints", synthetic_touchpoints(n, customers, start, first), None
            )
        timings = []
        for _ in range(samples):
            customer = random.choice(customers)
            t = time.perf_counter()
            store.query_rows(
                "SELECT event_id, occurred_at, channel, type, summary, payload FROM touchpoints "
                "WHERE tenant = {t:String} AND customer_id IN (SELECT {c:UUID} UNION ALL "
                "SELECT alias_id FROM customer_aliases WHERE tenant = {t:String} AND survivor_id = {c:UUID}) "
                "ORDER BY occurred_at DESC, event_id DESC LIMIT 1 BY event_id LIMIT 50",
                {"t": "bench", "c": customer},
            )
            timings.append(time.perf_counter() - t)
        return timings, int(store.query_rows("SELECT count() FROM touchpoints")[0][0])
    finally:
        store.close()


def synthetic_touchpoints(n: int, customers: list[str], start: datetime, offset: int) -> pa.Table:
    rng = random.Random(offset)
    types = [("phone", "call.completed"), ("email", "email.opened"), ("chat", "chat.started"),
             ("store", "purchase.completed"), ("web", "web.page_viewed")]  # fmt: skip
    picks = [rng.choice(types) for _ in range(n)]
    times = [start + timedelta(seconds=rng.randrange(0, 365 * 86400)) for _ in range(n)]
    return pa.table({
        "tenant": ["bench"] * n,
        "customer_id": [rng.choice(customers) for _ in range(n)],
        "occurred_at": pa.array(times, pa.timestamp("ms", tz="UTC")),
        "event_id": [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)],
        "channel": [c for c, _ in picks], "type": [t for _, t in picks],
        "schema_version": pa.array([1] * n, pa.uint16()),
        "summary": ["Opened email 'Winter sale'"] * n,
        "payload": ['{"campaign_id":"c-1","message_id":"m-1"}'] * n,
        "identities": pa.array([[("email", "someone@example.com")]] * n, pa.map_(pa.string(), pa.string())),
        "identity_flags": pa.array([[]] * n, pa.list_(pa.string())),
        "received_at": pa.array(times, pa.timestamp("ms", tz="UTC")),
        "source": ["bench"] * n,
        "kafka_partition": pa.array([0] * n, pa.uint16()),
        "kafka_offset": pa.array(range(offset, offset + n), pa.uint64()),
    })  # fmt: skip


def ms(samples_s: list[float], *qs: int) -> str:
    q = statistics.quantiles([s * 1000 for s in samples_s], n=100)
    return ", ".join(f"p{p} {q[p - 1]:.1f} ms" for p in qs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000, help="timeline table size")
    parser.add_argument("--rate", type=float, default=100.0, help="events/s during freshness")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds of traffic first")
    args = parser.parse_args()
    with private_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        lags, sent = freshness(stack, workdir, args.rate, args.seconds, args.warmup)
        records = resolved_records(stack)
        projector_rate, direct_rate = insert_speed(records, workdir)
        store = open_projection_store(f"chdb://{workdir / 'clickhouse'}")
        try:
            t = time.perf_counter()
            rebuilt = replay(store, stack.settings.kafka_bootstrap, "touchpoints")
            replay_rate = len(records) / (time.perf_counter() - t)
        finally:
            store.close()
        timings, table_rows = timeline_latency(args.rows, workdir)
    print("projections benchmark (chDB, one local broker, one worker, one projector)")
    print(f"  projector map+insert          {projector_rate:>10,.0f} rows/s   "
          f"{projector_rate / direct_rate:.2f}x of a direct chDB insert into the same table "
          f"({direct_rate:,.0f} rows/s, "
          f"{len(records):,} touchpoints)")  # fmt: skip
    print(
        f"  timeline, one customer        {ms(timings, 50, 99)}   ({table_rows:,} rows, 50 newest)"
    )
    print(f"  replay touchpoints            {replay_rate:>10,.0f} events/s   ({rebuilt})")
    print(f"  freshness 202 -> touchpoints  {ms(lags, 50, 95)}   ({len(lags)} of {sent} events at "
          f"{args.rate:.0f}/s after {args.warmup:.0f} s of warm-up, default settings)")  # fmt: skip


if __name__ == "__main__":
    main()
