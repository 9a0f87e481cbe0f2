"""Helpers the integration and e2e tests share: free ports, processes, reading the log back."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.topics import TOUCHPOINTS

REPO = Path(__file__).resolve().parents[1]
TOUCHLINE = str(Path(sys.executable).with_name("touchline"))
JAR_CACHE = REPO / ".touchline" / "cache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def random_tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([TOUCHLINE, *args], env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(
            f"touchline {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
        )
    return done


@dataclass
class ApiServer:
    """A ``touchline serve`` subprocess."""

    env: dict[str, str]
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def key(self, tenant: str, role: str = "publisher", *types: str) -> str:
        args = ["keys", "create", "--tenant", tenant, "--role", role]
        if types:
            args += ["--types", *types]
        return cli(self.env, *args).stdout.strip()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_api(
    env: dict[str, str], data_dir: Path, timeout: float = 30.0, healthy: bool = True
) -> ApiServer:
    port = free_port()
    env = {**env, "TOUCHLINE_HTTP_PORT": str(port), "TOUCHLINE_DATA_DIR": str(data_dir)}
    log_path = data_dir / f"api-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [TOUCHLINE, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = ApiServer(env, f"http://127.0.0.1:{port}", process, log_path)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"touchline serve exited:\n{log_path.read_text()}")
        try:
            status = httpx.get(server.url + "/healthz", timeout=2).status_code
        except httpx.HTTPError:
            return False
        return status == 200 or (not healthy and status == 503)

    wait_until(up, timeout, "the API to answer /healthz")
    return server


def base_env(bootstrap: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
    env.update({"TOUCHLINE_KAFKA_BOOTSTRAP": bootstrap, "TOUCHLINE_CACHE_DIR": str(JAR_CACHE),
                "TOUCHLINE_WORKER_METRICS_PORT": "0"})  # fmt: skip
    env.update(extra)
    return env


async def end_offsets(bootstrap: str, topic: str = TOUCHPOINTS) -> dict[TopicPartition, int]:
    """The committed end of every partition (the last stable offset, as read_committed sees it)."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        return await _stable_end_offsets(consumer, topic)
    finally:
        await consumer.stop()


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )


async def _stable_end_offsets(consumer: AIOKafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    """Transaction markers land a moment after a commit returns: wait until the ends stop moving.

    On a topic with live traffic they never stop; after 3 s the latest reading is used.
    """
    partitions = await _partitions(consumer, topic)
    previous = dict(await consumer.end_offsets(partitions))
    for _ in range(10):
        await asyncio.sleep(0.3)
        current = dict(await consumer.end_offsets(partitions))
        if current == previous:
            break
        previous = current
    return previous


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    ids = await consumer._client._wait_on_metadata(topic)
    return [TopicPartition(topic, p) for p in sorted(ids)]


async def read_since(
    bootstrap: str, since: dict[TopicPartition, int], topic: str = TOUCHPOINTS
) -> list[Any]:
    """Every committed record written after ``since`` (offsets taken before the action)."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        until = await _stable_end_offsets(consumer, topic)
        todo = {tp: end for tp, end in until.items() if end > since.get(tp, 0)}
        if not todo:
            return []
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, since.get(tp, 0))
        return await _drain(consumer, todo)
    finally:
        await consumer.stop()


async def _drain(consumer: AIOKafkaConsumer, todo: dict[TopicPartition, int]) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + 30
    while todo and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        for tp, messages in batch.items():
            records += [m for m in messages if m.offset < todo.get(tp, 0)]
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                del todo[tp]
    if todo:
        raise AssertionError(f"could not read to the end of {sorted(todo)}")
    return records


async def start_group_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commit ``group``'s offsets at the topics' current ends, before its first worker starts.

    Tests share one broker; a worker with a fresh store that started from the
    beginning would resolve every earlier test's tenants again and publish a
    second, different set of customer events for them.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, isolation_level="read_committed")  # fmt: skip
    await consumer.start()
    try:
        partitions = [tp for topic in topics for tp in await _partitions(consumer, topic)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: end for tp, end in ends.items()})
    finally:
        await consumer.stop()


def stop_processes(processes: Iterable[subprocess.Popen[bytes]], within_s: float = 60) -> None:
    """SIGTERM to all at once, then wait for each; one that outlives ``within_s`` is killed."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(within_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
