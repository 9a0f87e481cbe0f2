"""faust-streaming internals Touchline relies on, each with why the public API does not do.

* ``StreamApp``: read_committed consumers. faust sets read_committed only with
  ``processing_guarantee='exactly_once'``, whose open bugs we do not want to
  depend on (faust #517, #323); this transport keeps at-least-once processing
  and changes the isolation level alone (our processors are idempotent).
* ``in_event_of``: a batch (``take_events``) is not processed inside any one
  event's context, but faust's RocksDB store takes the partition from the
  *current event*; a table write runs in the context of the event that
  carried its key.
* ``publish_changelog``: faust's own path (``table[key] = v`` then
  ``app.producer.flush()``) sends one record per event-loop turn, and its
  flush gives up waiting after 0.1 s without a send.
* ``acknowledge``: the contiguity guard marks a range of offsets acknowledged
  in the consumer's bookkeeping (``_acked``, ``_acked_index``,
  ``_committed_offset``), so faust's commit moves past records it dropped and
  the guard read itself.
* ``QuietWorker``: the root logger at the level asked for (mode filters in the
  handler, so every ``log.debug`` in aiokafka's hot paths built a record only
  to drop it: about 6% of the worker's CPU in a profile), and no terminal
  spinner (it wrote cursor escape codes into ``worker.log``).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import faust
from faust.streams import _current_event
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport
from faust.types import TP
from faust.types.tuples import ack_lock


class _ReadCommittedConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"  # read by aiokafka when the fetcher starts
        return consumer


class _ReadCommittedConsumer(Consumer):
    def _new_consumer_thread(self) -> _ReadCommittedConsumerThread:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _ReadCommittedTransport(Transport):
    Consumer = _ReadCommittedConsumer


class StreamApp(faust.App):
    """A faust app whose consumers read committed records only."""

    def _new_transport(self) -> Any:
        return _ReadCommittedTransport(self.conf.broker_consumer, self)


@contextlib.contextmanager
def in_event_of(carrier: Any) -> Iterator[None]:
    """Run a table access as if ``carrier`` (a faust event) were being processed."""
    token = _current_event.set(weakref.ref(carrier))
    try:
        yield
    finally:
        _current_event.reset(token)


async def publish_changelog(table: Any, records: dict[tuple[int, str], bytes]) -> list[Any]:
    """Queue each (partition, key) -> value on the table's changelog; the futures of the sends.

    The table's own callback records each offset in its store, as faust's path does.
    """
    topic, sent = table.changelog_topic, []
    for (partition, key), value in records.items():
        message = topic.as_future_message(
            key=key,
            value=value,
            partition=partition,
            key_serializer=table.key_serializer,
            value_serializer="raw",
            callback=table._on_changelog_sent,
        )
        await topic.publish_message(message)
        sent.append(message)
    return sent


def acknowledge(consumer: Any, topic: str, ranges: dict[int, tuple[int, int, int]]) -> None:
    """Mark offsets acknowledged so faust's commit may pass them.

    ``ranges``: partition -> (lowest offset applied, the stage's previous
    position, the position after the batch). Everything from faust's committed
    offset (or, past it, from what this batch covers) to the new position is
    marked, under faust's own lock.
    """
    with ack_lock:
        for partition, (lowest, since, end) in ranges.items():
            tp = TP(topic, partition)
            start = min(lowest, since)
            committed = consumer._committed_offset[tp]
            if committed is not None:
                start = committed if committed <= since else max(start, committed)
            index = consumer._acked_index[tp]
            acked = consumer._acked[tp]
            for offset in range(start, end):
                if offset not in index:
                    index.add(offset)
                    acked.append(offset)


class QuietWorker(faust.Worker):
    """A faust worker for a log file: the root logger at the level asked for, and no spinner."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        logger.setLevel(str(self.loglevel or "info").upper())
