"""``touchline up``: the whole embedded system in one process tree, with demo traffic.

The broker runs as a child JVM; the API and the demo publisher share this
process's event loop. Ctrl-C stops all of it, including a broker that ``up``
started (a broker that was already running is left alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import uvicorn

from services.auth.sqlite import SqliteKeyStore
from services.ingest.app import create_app
from services.kafka.broker import LocalKafkaBroker
from services.kafka.topics import ensure_topics
from services.publishing.file_publish import Line, PublishFailed, PublishSummary, publish_http
from services.settings import Settings
from services.simulator.journeys import Journeys
from services.simulator.simulation import SimulationConfig, live_events, simulate

log = logging.getLogger("touchline.up")
DEMO_TENANT = "demo"


def run_up(settings: Settings, demo: bool, customers: int, rate: float) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("aiokafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    broker = LocalKafkaBroker(settings)
    already_running = broker.status().listening
    status = broker.start()
    log.info("kafka: %s", status.describe())
    asyncio.run(ensure_topics(settings))
    children = [_start_child(settings, "worker", "--loglevel", "warning"),
                _start_child(settings, "projector")]  # fmt: skip
    try:
        asyncio.run(_run(settings, demo, customers, rate))
    finally:
        for name, child in children:
            log.info("stopping the %s", name)
            child.terminate()
        for _, child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
        if not already_running:
            log.info("stopping the broker this command started")
            broker.stop()
    return 0


def _start_child(
    settings: Settings, command: str, *args: str
) -> tuple[str, subprocess.Popen[bytes]]:
    """The stream worker and the projector run in their own processes: faust wants its own
    event loop and signals, and the projector owns the embedded chDB directory."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / f"{command}.log"
    with log_path.open("ab") as out:
        cmd = [sys.executable, "-m", "services.cli", command, *args]
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    log.info("%s started (pid %d), log at %s", command, child.pid, log_path)
    return command, child


async def _run(settings: Settings, demo: bool, customers: int, rate: float) -> None:
    created = await ensure_topics(settings)
    if created:
        log.info("created topics: %s", ", ".join(created))
    server = _QuietServer(
        uvicorn.Config(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            access_log=False,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    url = f"http://{settings.http_host}:{settings.http_port}"
    tasks = [serving]
    page = f"http://{settings.http_host}:{settings.query_port}/"
    await _wait_healthy(url)
    await _wait_healthy(page.rstrip("/"), within_s=60.0)  # the projection service's agent page
    if demo:
        keys = SqliteKeyStore(settings.keys_db_path)
        key = keys.create(DEMO_TENANT, "publisher")
        page += "?token=" + keys.create(DEMO_TENANT, "supervisor")
        _banner(url, key, page)
        tasks.append(asyncio.create_task(_demo_traffic(url, key, customers, rate)))
    else:
        _banner(url, None, page)
    await stop.wait()
    for task in tasks[1:]:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    server.should_exit = True
    await serving


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``up`` decides how everything stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _banner(url: str, key: str | None, page: str) -> None:
    lines = [f"Touchline is up: API {url}  (OpenAPI: {url}/docs, health: {url}/healthz)",
             f"agent page: {page}"]  # fmt: skip
    if key:
        lines.append(f"demo publisher key for tenant '{DEMO_TENANT}': {key}")
    lines.append("Ctrl-C stops everything.")
    print("\n".join(lines), file=sys.stderr, flush=True)


async def _demo_traffic(url: str, key: str, customers: int, rate: float) -> None:
    """A 90-day history for ``customers`` people, then live events at ``rate`` per second."""
    await _wait_healthy(url)
    now = datetime.now(UTC)
    sim = simulate(
        SimulationConfig(
            customers=customers,
            seed=int(now.timestamp()) // 86400,
            tenant=DEMO_TENANT,
            invalid_rate=0.0,
        ),
        now,
    )
    summary = PublishSummary()
    try:
        await publish_http([Line(i, e) for i, e in enumerate(sim.events, 1)], url, key, summary)
    except PublishFailed as exc:
        log.warning("demo history not fully published: %s", exc)
    log.info(
        "demo history: %d events accepted (%d duplicates)", summary.accepted, summary.duplicates
    )
    journeys = Journeys(random.Random(), DEMO_TENANT)
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while True:
            events = live_events(journeys, journeys.rng.choice(sim.people), datetime.now(UTC))
            if events:
                response = await client.post(
                    "/v1/events", json=events, headers={"Authorization": f"Bearer {key}"}
                )
                if response.status_code != 202:
                    log.warning(
                        "demo event refused: %s %s", response.status_code, response.text[:300]
                    )
                sent += len(events)
                if sent // 500 != (sent - len(events)) // 500:
                    log.info("demo: %d live events published", sent)
            await asyncio.sleep(max(len(events), 1) / rate)


async def _wait_healthy(url: str, within_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
