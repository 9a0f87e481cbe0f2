"""The append-only event log the ingest API writes to, and its Kafka adapter.

Ingest promises that a batch is all accepted or not at all, and that a 2xx
means the events are durable. A Kafka transaction gives exactly that across
partitions: either every record of it becomes visible to ``read_committed``
readers, or none does. Transactions are one-at-a-time per producer, so
concurrent requests are *group-committed*: whatever batches are waiting when a
transaction starts go into it together, and each request is answered when the
transaction that holds it commits (or fails).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from events.records import Record
from services.compat.aiokafka import kill_producer
from services.kafka.batch_send import send_batched

log = logging.getLogger(__name__)


class LogUnavailable(RuntimeError):
    """The log did not durably acknowledge the records in time; none of them are visible."""


class EventLog(abc.ABC):
    """Where accepted events are appended."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Prepare to append; must not fail when the log is down (append will say so)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Finish in-flight appends and release connections."""

    @abc.abstractmethod
    async def append(self, records: Sequence[Record]) -> None:
        """Append all ``records`` atomically and durably, or raise ``LogUnavailable``."""

    @abc.abstractmethod
    async def reachable(self) -> bool:
        """Whether the log answers now (for health checks)."""


@dataclass
class _Waiting:
    records: Sequence[Record]
    done: asyncio.Future[None]


class _Lane:
    """One transactional producer; a log runs a few so commits overlap."""

    def __init__(self, bootstrap: str, transactional_id: str, ack_timeout: float) -> None:
        self.bootstrap = bootstrap
        self.transactional_id = transactional_id
        self.ack_timeout = ack_timeout
        self.producer: AIOKafkaProducer | None = None
        self._guard = asyncio.Lock()

    async def transaction(self, topic: str, records: list[Record]) -> None:
        producer = await self.ensure_producer()
        sends: list[asyncio.Future[Any]] = []
        try:
            await producer.begin_transaction()
            for named, group in _by_topic(topic, records).items():
                sends += await send_batched(producer, named, group)
            await producer.commit_transaction()
        except BaseException:
            for sent in sends:  # the caller reports the failure once; the sends say it again
                _retrieve_later(sent)
            raise
        for sent in sends:
            sent.result()  # commit succeeded, so every send did; surface anything odd

    async def ensure_producer(self) -> AIOKafkaProducer:
        """The lane's producer, started once even when a health check and a commit ask together.

        Two producers made at once with one transactional id fence each other
        (``ProducerFenced`` on the demo's first batches) and leave one unclosed.
        """
        async with self._guard:
            return await self._ensure_producer()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                transactional_id=self.transactional_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=0,
                max_batch_size=512 * 1024,
                request_timeout_ms=max(1000, int(self.ack_timeout * 1000)),
                transaction_timeout_ms=15_000,
            )
            try:
                await producer.start()
            except BaseException:
                await kill_producer(producer)
                raise
            self.producer = producer
        return self.producer

    async def drop_producer(self, graceful: bool = True) -> None:
        async with self._guard:
            producer, self.producer = self.producer, None
        if producer is None:
            return
        if graceful:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5.0)
        await kill_producer(producer)


class KafkaEventLog(EventLog):
    """Appends to one topic with transactional, idempotent (acks=all) aiokafka producers.

    ``lanes`` producers (transactional ids ``<id>-0``, ``<id>-1``, ...) commit
    in turn: while one waits for the broker to commit, the next gathers the
    requests that arrived meanwhile, so CPU work and broker round trips overlap.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        transactional_id: str,
        ack_timeout_ms: int = 5000,
        max_records_per_transaction: int = 20_000,
        retry_interval_s: float = 1.0,
        lanes: int = 2,
    ) -> None:
        self.topic = topic
        self.ack_timeout = ack_timeout_ms / 1000
        self.max_records = max_records_per_transaction
        self.retry_interval = retry_interval_s
        self._lanes = [
            _Lane(bootstrap, f"{transactional_id}-{i}", self.ack_timeout) for i in range(lanes)
        ]
        self._waiting: list[_Waiting] = []
        self._wakeup = asyncio.Event()
        self._committers: list[asyncio.Task[None]] = []
        self._last_failure = 0.0
        self._last_error = ""

    async def start(self) -> None:
        self._committers = [
            asyncio.create_task(
                self._commit_forever(lane), name=f"event-log-{lane.transactional_id}"
            )
            for lane in self._lanes
        ]

    async def stop(self) -> None:
        for task in self._committers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for waiting in self._take_all():
            _fail(waiting, LogUnavailable("the service is shutting down"))
        for lane in self._lanes:
            await lane.drop_producer()

    async def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if not self._committers or all(task.done() for task in self._committers):
            raise LogUnavailable("the event log is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(records, done))
        self._wakeup.set()
        await done

    async def reachable(self) -> bool:
        lane = self._lanes[0]
        try:
            producer = await asyncio.wait_for(lane.ensure_producer(), self.ack_timeout)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), self.ack_timeout)
        except Exception:  # any failure means "not reachable"; the reason is logged
            log.info("kafka health check failed", exc_info=True)
            await lane.drop_producer(graceful=False)
            return False
        return True

    async def _commit_forever(self, lane: _Lane) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            group = self._take_group()
            if self._waiting:
                self._wakeup.set()  # let an idle lane take what is left
            if group:
                await self._commit_group(lane, group)

    def _take_group(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        count = 0
        while self._waiting and (
            not group or count + len(self._waiting[0].records) <= self.max_records
        ):
            waiting = self._waiting.pop(0)
            count += len(waiting.records)
            group.append(waiting)
        return group

    def _take_all(self) -> list[_Waiting]:
        taken, self._waiting = self._waiting, []
        return taken

    async def _commit_group(self, lane: _Lane, group: list[_Waiting]) -> None:
        if time.monotonic() - self._last_failure < self.retry_interval and lane.producer is None:
            # The broker failed a moment ago: answer at once instead of queueing behind retries.
            for waiting in group:
                _fail(waiting, LogUnavailable(f"Kafka is unavailable: {self._last_error}"))
            return
        records = [r for waiting in group for r in waiting.records]
        try:
            await asyncio.wait_for(lane.transaction(self.topic, records), self.ack_timeout)
        except Exception as exc:  # every failure is reported to the waiting requests
            self._last_failure = time.monotonic()
            self._last_error = _describe(exc)
            log.warning("kafka transaction failed: %s", self._last_error)
            for waiting in group:
                _fail(waiting, LogUnavailable(f"Kafka did not acknowledge: {self._last_error}"))
            await lane.drop_producer(graceful=False)
            return
        for waiting in group:
            if not waiting.done.done():
                waiting.done.set_result(None)


def _by_topic(default: str, records: list[Record]) -> dict[str, list[Record]]:
    """Records by the topic they go to; one pass, and none when all go to ``default``."""
    if all(record.topic is None for record in records):
        return {default: records}
    grouped: dict[str, list[Record]] = {}
    for record in records:
        grouped.setdefault(record.topic or default, []).append(record)
    return grouped


def _retrieve_later(future: asyncio.Future[Any]) -> None:
    """Mark a send's outcome as seen, so asyncio does not log it as never retrieved."""

    def seen(done: asyncio.Future[Any]) -> None:
        if not done.cancelled():
            done.exception()

    future.add_done_callback(seen)


def _fail(waiting: _Waiting, exc: Exception) -> None:
    if not waiting.done.done():
        waiting.done.set_exception(exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out waiting for the broker"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
