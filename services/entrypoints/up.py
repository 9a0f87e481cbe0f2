"""``touchline up``: the whole embedded system in one process tree, with demo traffic.

The broker runs as a child JVM; the worker and the projector are supervised
children (restarted when they exit); the API and the demo publisher share this
process's event loop. Ctrl-C stops all of it, including a broker that ``up``
started (a broker that was already running is left alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import signal
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from aiokafka.errors import KafkaError

from events.contracts.heartbeat import Heartbeat
from services.auth.sqlite import SqliteKeyStore
from services.compat.uvicorn import HeaderTimeoutProtocol
from services.entrypoints.roots.ingest import ingest_app
from services.kafka.broker import BrokerError, LocalKafkaBroker
from services.kafka.topics import TopicError, ensure_topics, wait_for_coordinator
from services.platform.heartbeats import INTERVAL_S, instance_id, now_ms, publish_once
from services.platform.settings import Settings
from services.platform.supervisor import Child, GaveUp, Supervisor, touchline_child
from services.publishing.file_publish import Line, PublishFailed, PublishSummary, publish_http
from services.simulator.journeys import Journeys
from services.simulator.master import MasterConfig, MasterExport
from services.simulator.master_files import write_master
from services.simulator.simulation import SimulationConfig, live_events, simulate

log = logging.getLogger("touchline.up")
DEMO_TENANT = "demo"


def run_up(settings: Settings, demo: bool, customers: int, rate: float) -> int:
    quiet_logging()
    busy = busy_ports(settings)
    if busy:
        print(f"touchline up: {busy}", file=sys.stderr)
        return 1
    broker = LocalKafkaBroker(settings)
    already_running = broker.status().listening
    try:
        status = broker.start()
        log.info("kafka: %s", status.describe())
        asyncio.run(_prepare_broker(settings))
    except (BrokerError, KafkaError, TopicError, OSError) as exc:
        print(f"touchline up: kafka: {exc}", file=sys.stderr)
        return 1
    supervisor = Supervisor(
        [
            touchline_child("worker", settings.data_dir, "--loglevel", "warning"),
            touchline_child("projector", settings.data_dir),
        ],
        exited=functools.partial(_say_exited, settings),
    )
    supervisor.start_all()
    try:
        asyncio.run(_run(settings, supervisor, demo, customers, rate))
        return 0
    except GaveUp as exc:
        log.error("%s", exc)
        return 1
    finally:
        supervisor.stop_all()
        if not already_running:
            log.info("stopping the broker this command started")
            broker.stop()


def quiet_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("aiokafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def busy_ports(settings: Settings) -> str | None:
    """Which port ``up`` needs is taken, said so the user can act (None when all are free)."""
    wanted = [
        ("TOUCHLINE_HTTP_PORT", settings.http_port, "the ingest API"),
        ("TOUCHLINE_QUERY_PORT", settings.query_port, "the agent page"),
    ]
    for variable, port, what in wanted:
        with socket.socket() as probe:
            try:
                probe.bind((settings.http_host, port))
            except OSError:
                return (
                    f"port {port} for {what} is in use on {settings.http_host}; stop what holds "
                    f"it, or choose another with {variable}"
                )
    return None


async def _prepare_broker(settings: Settings) -> None:
    created = await ensure_topics(settings)
    if created:
        log.info("created topics: %s", ", ".join(created))
    await wait_for_coordinator(settings)


async def _say_exited(settings: Settings, child: Child, pid: int, how: str) -> None:
    """The dead child's last heartbeat, written for it: its stage shows down at once."""
    started = int((time.time() - (time.monotonic() - child.started_at)) * 1000)
    beat = Heartbeat(
        stage=child.name,
        instance=instance_id(pid),
        state="exited",
        at_ms=now_ms(),
        started_at_ms=started,
        interval_s=INTERVAL_S,
        detail={"exit": how, "restarts": child.restarts},
    )
    await publish_once(settings.kafka_bootstrap, beat)


async def _run(
    settings: Settings, supervisor: Supervisor, demo: bool, customers: int, rate: float
) -> None:
    server = _QuietServer(
        uvicorn.Config(
            ingest_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            access_log=False,
            http=HeaderTimeoutProtocol,  # its deadline was set as the app was made
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    watching = asyncio.create_task(supervisor.watch())
    url = f"http://{settings.http_host}:{settings.http_port}"
    tasks = [serving]
    page = f"http://{settings.http_host}:{settings.query_port}/"
    await _wait_healthy(url)
    await _wait_healthy(page.rstrip("/"), within_s=90.0)  # the projection service's agent page
    if demo:
        keys = SqliteKeyStore(settings.keys_db_path)
        key = keys.create(DEMO_TENANT, "publisher")
        page += "?token=" + keys.create(DEMO_TENANT, "supervisor")
        _banner(url, key, page, settings, analyst=keys.create(DEMO_TENANT, "analyst"))
        tasks.append(
            asyncio.create_task(_demo_traffic(url, key, customers, rate, settings.data_dir))
        )
    else:
        _banner(url, None, page, settings)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({stopping, watching}, return_when=asyncio.FIRST_COMPLETED)
    for task in (*tasks[1:], stopping):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    server.should_exit = True
    await serving
    if watching.done():
        watching.result()  # GaveUp: the caller says why and exits 1
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``up`` decides how everything stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _banner(
    url: str, key: str | None, page: str, settings: Settings, analyst: str | None = None
) -> None:
    host = settings.http_host
    lines = [
        f"Touchline is up: API {url}  (OpenAPI: {url}/docs, health: {url}/healthz)",
        f"agent page: {page}",
        f"metrics: {url}/metrics, http://{host}:{settings.query_port}/metrics, "
        f"http://{host}:{settings.worker_metrics_port}/metrics; `touchline status` for a summary",
    ]
    if key:
        lines.append(f"demo publisher key for tenant '{DEMO_TENANT}': {key}")
    if analyst:
        lines.append(f"demo analyst key (touchline sql --key ...): {analyst}")
        lines.append(f"analyst page: http://{host}:{settings.query_port}/analyst?token={analyst}")
    lines.append("Ctrl-C stops everything.")
    print("\n".join(lines), file=sys.stderr, flush=True)


async def _demo_traffic(url: str, key: str, customers: int, rate: float, data_dir: Path) -> None:
    """A 90-day history for ``customers`` people, their customer master imported (names,
    kana, addresses, several identifiers per row), then live events at ``rate`` per second."""
    await _wait_healthy(url)
    now = datetime.now(UTC)
    sim = simulate(
        SimulationConfig(
            customers=customers,
            seed=int(now.timestamp()) // 86400,
            tenant=DEMO_TENANT,
            invalid_rate=0.0,
            master=MasterConfig(),
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
    if sim.master is not None:
        await _import_master(sim.master, data_dir)
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


async def _import_master(master: MasterExport, data_dir: Path) -> None:
    """The demo's customer master, imported as a business would (``touchline import customers``)."""
    path = data_dir / "demo" / "customers.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_master(master, path)
    argv = [sys.executable, "-m", "services.entrypoints.cli", "import", "customers", str(path),
            "--tenant", DEMO_TENANT]  # fmt: skip
    with (data_dir / "demo" / "import.log").open("ab") as out:
        process = await asyncio.create_subprocess_exec(*argv, stdout=out, stderr=out)
        status = await process.wait()
    if status == 0:
        log.info(
            "demo customer master imported: %d rows (names, kana, addresses)", len(master.rows)
        )
    else:
        log.warning("demo customer master not imported (exit %d): see %s", status,
                    data_dir / "demo" / "import.log")  # fmt: skip


async def _wait_healthy(url: str, within_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
