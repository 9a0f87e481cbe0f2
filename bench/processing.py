"""Stream processing throughput, on one private broker and one simulated data set.

Prints, in one run:
  * a raw aiokafka consumer reading and decoding ``touchpoints`` (the baseline);
  * the identity stage alone (resolution + store transaction + outputs), driven by aiokafka;
  * the engagement stage alone (state + scores), driven by aiokafka;
  * faust's own ceiling: one faust agent taking the topic in batches and doing nothing
    (``bench.faust_floor``), what any faust worker on this machine is bounded by;
  * the faust worker end to end (both stages, faust tables, commits), from the
    first published event to zero consumer lag;
and each as a ratio to the raw consume rate.

    .venv/bin/python -m bench.processing [--customers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.common import TOUCHLINE, Stack, private_stack
from events.topics import RESOLVED, TOUCHPOINTS
from events.touchpoint import decode_touchpoint
from services.engagement.stage import EngagementStage
from services.identity.resolver import IdentityResolver
from services.identity.stage import IdentityStage
from services.identity.store import eventsourcing_env
from services.kafka.lag import group_lag
from services.kafka.output import OutputWriter
from services.platform.settings import Settings
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from services.simulator.simulation import SimulationConfig, simulate


async def publish(stack: Stack, tenant: str, customers: int) -> int:
    sim = simulate(
        SimulationConfig(customers=customers, seed=99, tenant=tenant, invalid_rate=0),
        datetime.now(UTC),
    )
    summary = PublishSummary()
    await publish_kafka([Line(i, e) for i, e in enumerate(sim.events)], stack.settings.kafka_bootstrap,
                        tenant, "US", summary, batch=2000, settings=stack.settings)  # fmt: skip
    return summary.accepted


async def consume(stack: Stack, topic: str, handle: Any, batch: int = 1000) -> float:
    """Read ``topic`` from the start to its current end through ``handle``; events/s."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.settings.kafka_bootstrap, group_id=None,
                                isolation_level="read_committed", auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=batch)  # fmt: skip
    await consumer.start()
    try:
        partitions = list(consumer.assignment()) or [tp for tp in await _wait_assignment(consumer)]
        ends = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        seen, start = 0, time.perf_counter()
        while seen < total:
            got = await consumer.getmany(timeout_ms=500, max_records=batch)
            messages = [m for ms in got.values() for m in ms]
            if messages:
                await handle(messages)
                seen += len(messages)
        return total / (time.perf_counter() - start)
    finally:
        await consumer.stop()


async def _wait_assignment(consumer: AIOKafkaConsumer) -> Any:
    for _ in range(200):
        if consumer.assignment():
            break
        await asyncio.sleep(0.05)
    return consumer.assignment()


async def decode_only(messages: list[Any]) -> None:
    for m in messages:
        decode_touchpoint(m.value)


class DictTable:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, state: Any, carrier: Any) -> None:
        self.data[key] = state

    async def persist(self) -> None:
        """Nothing to make durable: the dict is the state."""


async def stages(stack: Stack, workdir: Path) -> tuple[float, float]:
    out = OutputWriter(stack.settings.kafka_bootstrap)
    await out.start()
    try:
        resolver = IdentityResolver(
            eventsourcing_env(f"sqlite://{workdir / 'bench-identity.sqlite3'}")
        )
        identity = IdentityStage(resolver, out)
        identity_rate = await consume(stack, TOUCHPOINTS, identity.handle)
        engagement = EngagementStage(DictTable(), out)

        async def values(messages: list[Any]) -> None:
            await engagement.handle([(m.value, None) for m in messages])

        engagement_rate = await consume(stack, RESOLVED, values)
        return identity_rate, engagement_rate
    finally:
        await out.stop()


def worker_end_to_end(
    stack: Stack, customers: int, workdir: Path, batch: int
) -> tuple[float, int, float]:
    """The worker first catches up with the data already in the topic (start-up, group join and
    that backlog are outside the window), then a fresh population is published and timed from
    the first publish to zero lag on both input topics. Also returns the CPU seconds the worker
    used in that window: on a shared machine, wall-clock rates vary with the neighbours' load."""
    env = {**stack.env, "TOUCHLINE_DATA_DIR": str(workdir / "worker"),
           "TOUCHLINE_WORKER_BATCH_SIZE": str(batch)}  # fmt: skip
    worker = subprocess.Popen([TOUCHLINE, "worker", "--loglevel", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    bootstrap = stack.settings.kafka_bootstrap

    def wait_idle() -> None:
        deadline = time.monotonic() + 600
        while asyncio.run(group_lag(bootstrap, "touchline", [TOUCHPOINTS, RESOLVED])) != 0:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker stopped or stalled (exit code {worker.poll()})")
            time.sleep(0.25)

    try:
        wait_idle()
        start, cpu_start = time.perf_counter(), cpu_seconds(worker.pid)
        count = asyncio.run(publish(stack, "bench-e2e", customers))
        wait_idle()
        cpu = cpu_seconds(worker.pid) - cpu_start
        return count / (time.perf_counter() - start), count, cpu
    finally:
        worker.terminate()
        worker.wait(60)


def faust_floor(stack: Stack, count: int, workdir: Path, batch: int) -> float:
    """events/s of a faust agent that does no work, over the ``count`` events in ``touchpoints``."""
    found = subprocess.run(
        [sys.executable, "-m", "bench.faust_floor", "--bootstrap", stack.settings.kafka_bootstrap,
         "--count", str(count), "--batch", str(batch), "--datadir", str(workdir / "floor")],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    said = found.stdout + found.stderr  # faust's worker sends print() to its log (stderr)
    if "faust-floor-rate" not in said:
        raise RuntimeError(f"bench.faust_floor printed no rate:\n{said}")
    return float(said.split("faust-floor-rate")[-1].split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=Settings().worker_batch_size,
                        help="the worker's batch size (TOUCHLINE_WORKER_BATCH_SIZE)")  # fmt: skip
    args = parser.parse_args()
    with private_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        count = asyncio.run(publish(stack, "bench", args.customers))
        raw = asyncio.run(consume(stack, TOUCHPOINTS, decode_only))
        identity, engagement = asyncio.run(stages(stack, workdir))
        floor = faust_floor(stack, count, workdir, args.batch)
        e2e, e2e_count, e2e_cpu = worker_end_to_end(stack, args.customers, workdir, args.batch)
        print(
            f"processing benchmark: {count:,} simulated events ({args.customers:,} customers), "
            f"one local broker, one worker, batches of {args.batch:,}"
        )
        print(f"  raw aiokafka consume + decode       {raw:>9,.0f} events/s   1.00x (baseline)")
        print(
            f"  identity stage (aiokafka-driven)    {identity:>9,.0f} events/s   {identity / raw:.2f}x"
        )
        print(
            f"  engagement stage (aiokafka-driven)  {engagement:>9,.0f} events/s   {engagement / raw:.2f}x"
        )
        print(f"  faust agent doing nothing (ceiling) {floor:>9,.0f} events/s   {floor / raw:.2f}x")
        print(
            f"  faust worker end to end ({e2e_count:,} ev)  {e2e:>9,.0f} events/s   {e2e / raw:.2f}x"
        )
        print(
            f"  worker CPU in that window: {e2e_cpu:.1f} s, {1000 * e2e_cpu / e2e_count:.3f} ms/event"
            f" ({e2e_count / e2e_cpu:,.0f} events per CPU-second)"
        )


if __name__ == "__main__":
    main()
