"""faust, reading only committed records.

Ingest writes ``touchpoints`` in Kafka transactions, so a consumer must use
``isolation_level=read_committed`` or it would see batches that were aborted.
faust sets read_committed only with ``processing_guarantee='exactly_once'``,
whose open bugs we do not want to depend on (faust #517, #323); this transport
keeps at-least-once processing and changes the isolation level alone.
Our processors are idempotent, which is what makes the result exactly-once.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport


class ReadCommittedConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"  # read by aiokafka when the fetcher starts
        return consumer


class ReadCommittedConsumer(Consumer):
    def _new_consumer_thread(self) -> ReadCommittedConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(Transport):
    Consumer = ReadCommittedConsumer


class StreamApp(faust.App):
    """A faust app whose consumers read committed records only."""

    def _new_transport(self) -> Any:
        return ReadCommittedTransport(self.conf.broker_consumer, self)
