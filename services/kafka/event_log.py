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

from aiokafka import AIOKafkaProducer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


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


class KafkaEventLog(EventLog):
    """Appends to one topic with a transactional, idempotent (acks=all) aiokafka producer."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        transactional_id: str,
        ack_timeout_ms: int = 5000,
        max_records_per_transaction: int = 20_000,
        retry_interval_s: float = 1.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.transactional_id = transactional_id
        self.ack_timeout = ack_timeout_ms / 1000
        self.max_records = max_records_per_transaction
        self.retry_interval = retry_interval_s
        self._producer: AIOKafkaProducer | None = None
        self._waiting: list[_Waiting] = []
        self._wakeup = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._last_failure = 0.0
        self._last_error = ""

    async def start(self) -> None:
        self._committer = asyncio.create_task(self._commit_forever(), name="event-log-committer")

    async def stop(self) -> None:
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        for waiting in self._take_all():
            _fail(waiting, LogUnavailable("the service is shutting down"))
        await self._drop_producer()

    async def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self._committer is None or self._committer.done():
            raise LogUnavailable("the event log is not running")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(records, done))
        self._wakeup.set()
        await done

    async def reachable(self) -> bool:
        try:
            producer = await asyncio.wait_for(self._ensure_producer(), self.ack_timeout)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), self.ack_timeout)
        except Exception:  # any failure means "not reachable"; the reason is logged
            log.info("kafka health check failed", exc_info=True)
            await self._drop_producer(graceful=False)
            return False
        return True

    async def _commit_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            group = self._take_group()
            if group:
                await self._commit_group(group)
            if self._waiting:
                self._wakeup.set()

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

    async def _commit_group(self, group: list[_Waiting]) -> None:
        if time.monotonic() - self._last_failure < self.retry_interval and self._producer is None:
            # The broker failed a moment ago: answer at once instead of queueing behind retries.
            for waiting in group:
                _fail(waiting, LogUnavailable(f"Kafka is unavailable: {self._last_error}"))
            return
        try:
            await asyncio.wait_for(self._transaction(group), self.ack_timeout)
        except Exception as exc:  # every failure is reported to the waiting requests
            self._last_failure = time.monotonic()
            self._last_error = _describe(exc)
            log.warning("kafka transaction failed: %s", self._last_error)
            for waiting in group:
                _fail(waiting, LogUnavailable(f"Kafka did not acknowledge: {self._last_error}"))
            await self._drop_producer(graceful=False)
            return
        for waiting in group:
            if not waiting.done.done():
                waiting.done.set_result(None)

    async def _transaction(self, group: list[_Waiting]) -> None:
        producer = await self._ensure_producer()
        await producer.begin_transaction()
        sends = []
        for waiting in group:
            for r in waiting.records:
                sends.append(
                    await producer.send(self.topic, r.value, r.key, headers=list(r.headers))
                )
        await producer.commit_transaction()
        for sent in sends:
            sent.result()  # commit succeeded, so every send did; surface anything odd

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
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
                await _kill(producer)
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self, graceful: bool = True) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if graceful:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5.0)
        await _kill(producer)


async def _kill(producer: AIOKafkaProducer) -> None:
    """Stop a failed producer *now*, dropping what it still buffers.

    A graceful ``stop()`` would keep its sender retrying in the background and
    could commit the failed transaction once the broker is back, after the
    request was already answered 503. Killing the sender instead leaves the
    transaction open on the broker, where the next producer with the same
    transactional id aborts it (fencing), so nothing of it becomes visible.
    Reaches into aiokafka's sender because the public API has no abort-now.
    """
    producer._closed = True
    with contextlib.suppress(Exception):
        if producer._sender is not None:
            await producer._sender.close()
    with contextlib.suppress(Exception):
        await producer.client.close()


def _fail(waiting: _Waiting, exc: Exception) -> None:
    if not waiting.done.done():
        waiting.done.set_exception(exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out waiting for the broker"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
