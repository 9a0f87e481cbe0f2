"""aiokafka internals Touchline relies on: a producer stopped at once, and the gaps a fetch skips.

* ``kill_producer``: the public API has no abort-now. A graceful ``stop()``
  would keep a failed transactional producer's sender retrying in the
  background and could commit the failed transaction once the broker is back,
  after the request was already answered 503. Killing the sender leaves the
  transaction open on the broker, where the next producer with the same
  transactional id aborts it (fencing), so nothing of it becomes visible.
* ``install_gap_noting``: aiokafka knows which offsets it passed over while
  unpacking a fetch (transaction markers, aborted records under
  ``read_committed``, compacted records). Noting them lets the contiguity
  guard tell a marker from a record faust dropped (``services.streams.log_gaps``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import aiokafka.consumer.fetcher as fetcher
from aiokafka import AIOKafkaProducer


class GapNotes(Protocol):
    def note(self, topic: str, partition: int, start: int, end: int) -> None: ...


async def kill_producer(producer: AIOKafkaProducer) -> None:
    """Stop a failed producer *now*, dropping what it still buffers."""
    producer._closed = True
    with contextlib.suppress(Exception):
        if producer._sender is not None:
            await producer._sender.close()
    with contextlib.suppress(Exception):
        await producer.client.close()


_ORIGINAL = fetcher.PartitionRecords


def install_gap_noting(gaps: GapNotes) -> None:
    """Make every aiokafka consumer in this process note the offsets it skips in ``gaps``.

    aiokafka looks ``PartitionRecords`` up per fetch, so replacing the class in
    its module is enough; call it once, at start-up, in the process that wants it.
    """

    class GapNotingRecords(_ORIGINAL):  # type: ignore[misc,valid-type]
        """aiokafka's unpacking of one partition's fetch, noting the offsets it passes over."""

        def _unpack_records(self) -> Iterator[Any]:
            tp, expected = self._tp, self.next_fetch_offset
            for record in super()._unpack_records():
                if record.offset > expected:
                    gaps.note(tp.topic, tp.partition, expected, record.offset)
                expected = record.offset + 1
                yield record
            if self.next_fetch_offset > expected:  # trailing markers or aborted batches
                gaps.note(tp.topic, tp.partition, expected, self.next_fetch_offset)

    fetcher.PartitionRecords = GapNotingRecords


def uninstall_gap_noting() -> None:
    fetcher.PartitionRecords = _ORIGINAL
