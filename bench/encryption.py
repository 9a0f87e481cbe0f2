"""Encryption on against off, in one run: ingest events/s and CPU per event, and the worker's.

Two ingest servers share one private broker, one sealing personal values
(``TOUCHLINE_ENCRYPT_PII=on``, the default) and one not; rounds of HTTP batches
alternate between them (interleaved, so a noisy neighbour slows both alike).
Beside the rate, each server's own CPU time per accepted event is read from
``/proc`` (the figure that does not move with the machine's load).

Then the worker: for each mode, a fresh worker group at the topic's end, a
fresh identity store, the same simulated population published the same way
(sealed or not), and the worker's CPU seconds from the first publish to zero
lag, per event. Modes alternate again (on, off, on, off, ...).

    .venv/bin/python -m bench.encryption [--events N] [--rounds N] [--customers N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import TOUCHLINE, Stack, free_port, private_stack, valid_events, wait_healthy
from bench.http_client import closed_loop
from bench.processing import cpu_seconds
from events.topics import RESOLVED, TOUCHPOINTS
from services.kafka.lag import commit_at_end, group_lag
from services.platform.settings import Settings
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from services.simulator.simulation import SimulationConfig, simulate

MODES = ("on", "off")


def serve(stack: Stack, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**stack.env, "TOUCHLINE_HTTP_PORT": str(port), "TOUCHLINE_ENCRYPT_PII": mode}
    process = subprocess.Popen([TOUCHLINE, "serve"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}")
    return process, port


async def one_round(
    stack: Stack, port: int, pid: int, events: list[dict[str, Any]]
) -> tuple[float, float]:
    """(events/s, server CPU µs per event) for ``events`` in batches of 100 over 8 connections."""
    chunks = [[{**e, "event_id": str(uuid.uuid4())} for e in events[i : i + 100]]
              for i in range(0, len(events), 100)]  # fmt: skip
    headers = {"Authorization": f"Bearer {stack.key}", "Content-Type": "application/json"}
    requests = [("POST", "/v1/events", orjson.dumps(c)) for c in chunks]
    cpu = cpu_seconds(pid)
    _, seconds = await closed_loop("127.0.0.1", port, headers, requests, 8, expect=202)
    return len(events) / seconds, (cpu_seconds(pid) - cpu) / len(events) * 1e6


def ingest(stack: Stack, n: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Per mode: the first round (every customer new: a key created per identifier), then
    ``rounds`` rounds of the same customers again (their keys known)."""
    events, other = valid_events(n), valid_events(2000, seed=7)
    servers = {mode: serve(stack, mode) for mode in MODES}
    try:
        for process, port in servers.values():  # warm-up: connections, code paths
            asyncio.run(one_round(stack, port, process.pid, other))
        results: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
        for _ in range(1 + rounds):
            for mode, (process, port) in servers.items():
                results[mode].append(asyncio.run(one_round(stack, port, process.pid, events)))
        return results
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(30)


def worker_cpu(stack: Stack, mode: str, customers: int, workdir: Path) -> tuple[int, float]:
    """(events, worker CPU µs per event) for one population, in encryption mode ``mode``."""
    run = uuid.uuid4().hex[:8]
    group, data = f"bench-enc-{run}", workdir / f"worker-{run}"
    env = {**stack.env, "TOUCHLINE_DATA_DIR": str(data), "TOUCHLINE_WORKER_GROUP": group,
           "TOUCHLINE_ENCRYPT_PII": mode, "TOUCHLINE_WORKER_METRICS_PORT": "0"}  # fmt: skip
    bootstrap = stack.settings.kafka_bootstrap
    asyncio.run(commit_at_end(bootstrap, group, [TOUCHPOINTS, RESOLVED]))
    worker = subprocess.Popen([TOUCHLINE, "worker", "--loglevel", "warning"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def wait_idle() -> None:
        deadline = time.monotonic() + 600
        while asyncio.run(group_lag(bootstrap, group, [TOUCHPOINTS, RESOLVED])) != 0:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker stopped or stalled (exit code {worker.poll()})")
            time.sleep(0.25)

    try:
        time.sleep(8)  # joined and idle: start-up CPU stays outside the window
        wait_idle()
        cpu = cpu_seconds(worker.pid)
        tenant = f"enc{run}"
        sim = simulate(SimulationConfig(customers=customers, seed=7, tenant=tenant, invalid_rate=0),
                       datetime.now(UTC))  # fmt: skip
        summary = PublishSummary()
        lines = [Line(i, e) for i, e in enumerate(sim.events)]
        asyncio.run(publish_kafka(lines, bootstrap, tenant, "US", summary, batch=2000,
                                  settings=Settings.from_env(env)))  # fmt: skip
        wait_idle()
        return summary.accepted, (cpu_seconds(worker.pid) - cpu) / summary.accepted * 1e6
    finally:
        worker.terminate()
        worker.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--worker-rounds", type=int, default=2)
    args = parser.parse_args()
    with private_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        http = ingest(stack, args.events, args.rounds)
        worker: dict[str, list[tuple[int, float]]] = {m: [] for m in MODES}
        for _ in range(args.worker_rounds):
            for mode in MODES:
                worker[mode].append(worker_cpu(stack, mode, args.customers, Path(tmp)))
    print(f"encryption benchmark: {args.events:,} simulated events per round, HTTP batches of 100"
          " over 8 connections, rounds interleaved")  # fmt: skip
    first = {m: http[m][0] for m in MODES}
    known = {m: (statistics.median(r for r, _ in http[m][1:]),
                 statistics.median(c for _, c in http[m][1:])) for m in MODES}  # fmt: skip
    for label, figures in (("customers new (first round)", first),
                           (f"customers known (median of {args.rounds})", known)):  # fmt: skip
        (on_rate, on_cpu), (off_rate, off_cpu) = figures["on"], figures["off"]
        print(f"  ingest, {label}:")
        print(f"    encryption off   {off_rate:>8,.0f} events/s  {off_cpu:>6,.0f} µs CPU/event"
              "  (baseline)")  # fmt: skip
        print(f"    encryption on    {on_rate:>8,.0f} events/s  {on_cpu:>6,.0f} µs CPU/event"
              f"  rate {on_rate / off_rate:.2f}x, CPU {on_cpu / off_cpu:.2f}x"
              f" (off/on {off_cpu / on_cpu:.2f}x)")  # fmt: skip
    rounds = ", ".join(f"{m} " + " ".join(f"{r:,.0f}" for r, _ in http[m]) for m in MODES)
    print(f"  events/s per round (the first is new customers): {rounds}")
    wcpu = {m: statistics.median(c for _, c in worker[m]) for m in MODES}
    count = worker["on"][0][0]
    print(f"worker: {count:,} events per run ({args.customers} customers), "
          f"{args.worker_rounds} interleaved runs per mode (medians)")  # fmt: skip
    print(f"  worker, encryption off   {wcpu['off']:>6,.0f} µs CPU/event  (baseline)")
    print(
        f"  worker, encryption on    {wcpu['on']:>6,.0f} µs CPU/event  {wcpu['on'] / wcpu['off']:.2f}x"
    )


if __name__ == "__main__":
    main()
