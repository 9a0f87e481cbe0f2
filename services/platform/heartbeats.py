"""Heartbeats: each long-running process says, every few seconds, that it is alive and how it is.

``HeartbeatSender`` publishes a process's beats; ``HealthView`` follows the topic
and answers what ``/healthz`` and ``touchline status`` report for each stage.
A stage is down when none of its instances has beaten for three intervals, or
when the last word about each of them is that it stopped or exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from events.contracts.heartbeat import Heartbeat
from events.topics import HEARTBEATS

log = logging.getLogger(__name__)
INTERVAL_S = 2.0
PROCESSING_STAGES = ("worker", "projector")  # what ingest's and the agent API's health report


def instance_id(pid: int | None = None) -> str:
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Vitals:
    """What a stage reports about itself in each beat (filled by the stage, read by the sender)."""

    processed: int = 0
    dead_letters: int = 0
    lag: Mapping[str, int] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)


class LastError(logging.Handler):
    """Keeps the newest ERROR (or worse) record's first line, for the heartbeat and `status`."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message: str | None = None
        self.at_ms: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = f"{record.name}: {record.getMessage().splitlines()[0][:300]}"
        self.at_ms = int(record.created * 1000)


class HeartbeatSender:
    """Publishes one instance's beats until stopped; its last beat says it stopped."""

    def __init__(
        self,
        bootstrap: str,
        stage: str,
        vitals: Callable[[], Awaitable[Vitals]],
        errors: LastError | None = None,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.bootstrap, self.stage, self.vitals = bootstrap, stage, vitals
        self.errors = errors
        self.interval_s = interval_s
        self.instance = instance_id()
        self.started_at_ms = now_ms()
        self._rates: deque[tuple[float, int]] = deque()
        self._producer: AIOKafkaProducer | None = None
        self._state = "starting"

    def running(self) -> None:
        """The stage has started processing (its next beats say ``running``)."""
        self._state = "running"

    async def run(self) -> None:
        while True:
            with contextlib.suppress(KafkaError, OSError):  # the broker may be down: try later
                await self._send(await self._beat(self._state))
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        """Say ``stopped`` once (if the broker answers within a few seconds) and close."""
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await asyncio.wait_for(self._send(await self._beat("stopped")), 5.0)
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(producer.stop(), 5.0)

    async def _beat(self, state: str) -> Heartbeat:
        vitals = await self.vitals()
        errors = self.errors
        return Heartbeat(
            stage=self.stage,
            instance=self.instance,
            state=state,
            at_ms=now_ms(),
            started_at_ms=self.started_at_ms,
            interval_s=self.interval_s,
            processed=vitals.processed,
            rate_1m=self._rate(vitals.processed),
            lag=dict(vitals.lag),
            dead_letters=vitals.dead_letters,
            last_error=errors.message if errors else None,
            last_error_at_ms=errors.at_ms if errors else None,
            detail=dict(vitals.detail),
        )

    def _rate(self, processed: int) -> float:
        """Events per second over the last minute (or since start, if younger)."""
        now = time.monotonic()
        self._rates.append((now, processed))
        while self._rates and now - self._rates[0][0] > 60:
            self._rates.popleft()
        then, before = self._rates[0]
        return round((processed - before) / (now - then), 2) if now > then else 0.0

    async def _send(self, beat: Heartbeat) -> None:
        if self._producer is None:
            self._producer = await _started_producer(self.bootstrap)
        await self._producer.send_and_wait(HEARTBEATS, beat.encode(), key=beat.key)


class Beating:
    """A sender's task, started with the process and stopped (saying so) with it."""

    def __init__(self, sender: HeartbeatSender) -> None:
        self.sender = sender
        self.task = asyncio.create_task(sender.run(), name=f"heartbeat-{sender.stage}")

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.sender.stop()


async def publish_once(bootstrap: str, beat: Heartbeat) -> None:
    """One beat from a process that does not beat itself (a supervisor, about its child)."""
    producer = await _started_producer(bootstrap)
    try:
        await producer.send_and_wait(HEARTBEATS, beat.encode(), key=beat.key)
    finally:
        await producer.stop()


async def _started_producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1)
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer


def exited(beat: Heartbeat, status: str) -> Heartbeat:
    """The last word about an instance a supervisor saw die (``status``: how it ended)."""
    return replace(beat, state="exited", at_ms=now_ms(), detail={**beat.detail, "exit": status})


@dataclass(frozen=True)
class StageHealth:
    """One stage as a reader of the heartbeats sees it now."""

    stage: str
    state: str  # up | starting | down
    instances: tuple[Heartbeat, ...]  # the live ones
    lag: Mapping[str, int]
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "state": self.state,
            "instances": len(self.instances),
            "lag": dict(self.lag),
        }
        if self.reason:
            body["reason"] = self.reason
        return body


def stage_health(stage: str, beats: Iterable[Heartbeat], at_ms: int) -> StageHealth:
    """Up if an instance beat recently and says it is running; otherwise why not."""
    mine = sorted((b for b in beats if b.stage == stage), key=lambda b: b.at_ms)
    alive = tuple(b for b in mine if b.alive(at_ms))
    lag = alive[-1].lag if alive else {}
    if any(b.state == "running" for b in alive):
        return StageHealth(stage, "up", alive, lag)
    if alive:
        return StageHealth(stage, "starting", alive, lag, "starting")
    if not mine:
        return StageHealth(stage, "down", (), {}, "no heartbeat seen")
    last = mine[-1]
    if last.state == "exited":
        reason = str(last.detail.get("exit", "exited"))
    elif last.state in ("stopped", "stopping"):
        reason = last.state
    else:
        reason = f"no heartbeat for {(at_ms - last.at_ms) / 1000:.0f} s"
    return StageHealth(stage, "down", (), {}, reason)


class HealthView:
    """The newest beat of every instance, kept current by following the heartbeats topic.

    It starts from a few minutes back, so a reader that has just started knows
    about stages that were already running.
    """

    def __init__(self, bootstrap: str, history_s: float = 300.0) -> None:
        self.bootstrap = bootstrap
        self.history_s = history_s
        self.beats: dict[bytes, Heartbeat] = {}
        self.caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow_forever(), name="health-view")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def stages(self, names: Iterable[str] = PROCESSING_STAGES) -> dict[str, StageHealth]:
        at = now_ms()
        return {name: stage_health(name, self.beats.values(), at) for name in names}

    async def _follow_forever(self) -> None:
        while True:
            try:
                await self._follow()
            except (KafkaError, OSError) as exc:
                log.info("heartbeats unavailable (%s); retrying", exc)
            await asyncio.sleep(2.0)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(HEARTBEATS, 0)
            consumer.assign([tp])
            since = int((time.time() - self.history_s) * 1000)
            found = await consumer.offsets_for_times({tp: since})
            end = (await consumer.end_offsets([tp]))[tp]
            start = found[tp].offset if found.get(tp) is not None else end
            consumer.seek(tp, start)
            if start >= end:
                self.caught_up.set()
            while True:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        self._keep(record.key, record.value)
                if not self.caught_up.is_set() and await consumer.position(tp) >= end:
                    self.caught_up.set()
        finally:
            await consumer.stop()

    def _keep(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            return
        try:
            beat = Heartbeat.decode(value)
        except (ValueError, TypeError, KeyError):
            return  # a beat of another version: its writer's readers understand it
        known = self.beats.get(key)
        if known is None or beat.at_ms >= known.at_ms:
            self.beats[key] = beat
