"""A flush's identity and its intent, and which records wait for the next one: pure decisions.

Why intents: aggregates are materialized views over ``touchpoints``, so a
re-delivered batch must be dropped on insert (``insert_deduplication_token``),
and a token only matches if the batch is cut the same way again. Before each
insert the projector commits an *intent* to Kafka: for every partition of the
flush, the offset it starts at, with commit metadata naming the flush (its id
and range). After the insert it commits the end. A restart that finds an
intent re-reads exactly those ranges and inserts them with the same tokens
first; ClickHouse drops what it already has.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from events.topics import RESOLVED

INTENT = "intent"


@dataclass(frozen=True)
class Flush:
    """One flush: for each partition, the inclusive offset range it covers."""

    ranges: Mapping[TopicPartition, tuple[int, int]]

    @property
    def flush_id(self) -> str:
        text = ";".join(
            f"{tp.topic}:{tp.partition}:{a}-{b}"
            for tp, (a, b) in sorted(
                self.ranges.items(), key=lambda kv: (kv[0].topic, kv[0].partition)
            )
        )
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

    def intent(self) -> dict[TopicPartition, OffsetAndMetadata]:
        return {
            tp: OffsetAndMetadata(a, f"{INTENT}:{a}-{b}:{self.flush_id}")
            for tp, (a, b) in self.ranges.items()
        }

    def done(self) -> dict[TopicPartition, OffsetAndMetadata]:
        return {tp: OffsetAndMetadata(b + 1, "") for tp, (_, b) in self.ranges.items()}


def parse_intent(metadata: str) -> tuple[int, int, str] | None:
    if not metadata.startswith(INTENT + ":"):
        return None
    _, span, flush_id = metadata.split(":", 2)
    first, last = span.split("-")
    return int(first), int(last), flush_id


def held_back(
    pending: Mapping[TopicPartition, Sequence[Any]],
    count: int,
    others_since: float | None,
    flush_rows: int,
    interval_s: float,
    now: float | None = None,
) -> dict[TopicPartition, Sequence[Any]]:
    """The profile topics' records to keep for the next flush, so touchpoints are written now.

    On chDB every insert costs 15-75 ms whatever its size, and a flush of every
    table is about eight of them: an event arriving during one waited for all
    of them. Profile records younger than the interval therefore wait, unless
    the batch is full or there are no touchpoints to write first.
    """
    if others_since is None or count >= flush_rows:
        return {}
    if (time.monotonic() if now is None else now) - others_since >= interval_s:
        return {}
    if not any(records for tp, records in pending.items() if tp.topic == RESOLVED):
        return {}
    return {tp: records for tp, records in pending.items() if tp.topic != RESOLVED and records}
