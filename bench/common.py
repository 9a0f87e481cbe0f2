"""Shared benchmark plumbing: a private broker and API, data, and figures."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from services.kafka.broker import LocalKafkaBroker
from services.kafka.topics import ensure_topics
from services.platform.settings import Settings
from services.simulator.simulation import SimulationConfig, simulate

REPO = Path(__file__).resolve().parents[1]
TOUCHLINE = str(Path(sys.executable).with_name("touchline"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    url: str
    key: str


@contextmanager
def private_stack() -> Iterator[Stack]:
    """A broker and an API on free ports, in a temporary data dir, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
        env.update({
            "TOUCHLINE_DATA_DIR": tmp,
            "TOUCHLINE_CACHE_DIR": str(REPO / ".touchline" / "cache"),
            "TOUCHLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
            "TOUCHLINE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "TOUCHLINE_HTTP_PORT": str(free_port()),
            "TOUCHLINE_QUERY_PORT": str(free_port()),
            "TOUCHLINE_DEDUP_CACHE_SIZE": "0",
        })  # fmt: skip
        settings = Settings.from_env(env)
        broker = LocalKafkaBroker(settings)
        broker.start()
        asyncio.run(ensure_topics(settings))
        key = subprocess.run([TOUCHLINE, "keys", "create", "--tenant", "bench", "--role", "publisher"],
                             env=env, capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        api = subprocess.Popen(
            [TOUCHLINE, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{settings.http_port}"
        try:
            wait_healthy(url)
            yield Stack(settings, env, url, key)
        finally:
            api.terminate()
            api.wait(30)
            broker.stop()


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not become healthy")


def valid_events(count: int, seed: int = 42) -> list[dict[str, Any]]:
    """At least ``count`` valid, distinct simulated events (no injected anomalies)."""
    customers = max(10, count // 35)
    while True:
        config = SimulationConfig(customers=customers, seed=seed, tenant="bench", duplicate_rate=0,
                                  disorder_rate=0, late_rate=0, invalid_rate=0)  # fmt: skip
        events = simulate(config, datetime.now(UTC)).events
        if len(events) >= count:
            return events[:count]
        customers *= 2


def percentiles(samples_s: list[float]) -> str:
    if len(samples_s) < 2:
        return "n/a"
    q = statistics.quantiles([s * 1000 for s in samples_s], n=100)
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms"
