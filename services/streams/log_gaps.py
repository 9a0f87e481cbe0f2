"""Offsets the Kafka client itself passed over as non-data, so the contiguity guard need not read them.

Ingest writes in transactions, and every transaction leaves a marker: one
offset no consumer ever receives. At 100 single-event requests a second
nearly every offset after a record is a marker, so nearly every worker batch
had "holes", and the guard fetched each batch's hole range back from the
broker to be sure faust had not dropped a record there (39 ms at p50 per
batch in an instrumented run, of a cycle of about 290 ms).

aiokafka knows which offsets it skipped: control batches (markers) and
aborted transactions under ``read_committed``, and records compaction
removed. Those are facts about the log, true for every reader and forever.
````LogGaps`` records them as aiokafka unpacks a fetch; a hole made
only of such offsets is no hole. A record faust drops was *returned* by
aiokafka, so it is never noted, and the guard still reads it back. The
noting itself reaches into aiokafka (``services.compat.aiokafka``); the worker
installs it as it starts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

_WIDEST_NOTED = 10_000  # a wider skipped range (a huge aborted transaction) is read instead


class LogGaps:
    """Skipped offsets per (topic, partition), for the topics asked about; thread-safe.

    faust's consumer runs in its own thread, where the gaps are noted; the
    stages ask from the main thread.
    """

    def __init__(self) -> None:
        self._topics: set[str] = set()
        self._skipped: dict[tuple[str, int], set[int]] = {}
        self._lock = threading.Lock()

    def watch(self, topic: str) -> None:
        self._topics.add(topic)

    def note(self, topic: str, partition: int, start: int, end: int) -> None:
        if topic not in self._topics or not 0 < end - start <= _WIDEST_NOTED:
            return
        with self._lock:
            self._skipped.setdefault((topic, partition), set()).update(range(start, end))

    def explain(self, topic: str, partition: int, offsets: Iterable[int]) -> bool:
        """Whether every one of ``offsets`` is known to be a marker or otherwise not a record."""
        with self._lock:
            skipped = self._skipped.get((topic, partition), set())
            return all(offset in skipped for offset in offsets)

    def forget_below(self, topic: str, partition: int, offset: int) -> None:
        """Drop what lies below a stage's position: it will not be asked about again."""
        with self._lock:
            skipped = self._skipped.get((topic, partition))
            if skipped and min(skipped) < offset:
                self._skipped[(topic, partition)] = {o for o in skipped if o >= offset}
