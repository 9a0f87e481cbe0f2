"""Which records a flush keeps for later: profile topics wait while touchpoints go first."""

from __future__ import annotations

import time

from aiokafka import TopicPartition

from events.topics import CUSTOMERS, RESOLVED, SCORES
from projections.projector import Projector
from projections.rows import SourceRecord

RESOLVED_0 = TopicPartition(RESOLVED, 0)
CUSTOMERS_3 = TopicPartition(CUSTOMERS, 3)
SCORES_1 = TopicPartition(SCORES, 1)


def records(tp: TopicPartition, n: int) -> list[SourceRecord]:
    return [SourceRecord(tp.topic, tp.partition, i, None, b"{}", 0) for i in range(n)]


def projector(flush_rows: int = 1000, interval_s: float = 0.25) -> Projector:
    return Projector(store=None, bootstrap="unused:9092", flush_rows=flush_rows,  # type: ignore[arg-type]
                     flush_interval_s=interval_s)  # fmt: skip


def test_young_profile_records_wait_while_touchpoints_are_written() -> None:
    pending = {RESOLVED_0: records(RESOLVED_0, 2), CUSTOMERS_3: records(CUSTOMERS_3, 1),
               SCORES_1: records(SCORES_1, 4)}  # fmt: skip
    held = projector()._held_back(pending, 7, others_since=time.monotonic())
    assert held == {CUSTOMERS_3: pending[CUSTOMERS_3], SCORES_1: pending[SCORES_1]}


def test_profile_records_older_than_the_interval_go_with_the_touchpoints() -> None:
    pending = {RESOLVED_0: records(RESOLVED_0, 2), CUSTOMERS_3: records(CUSTOMERS_3, 1)}
    held = projector(interval_s=0.25)._held_back(pending, 3, others_since=time.monotonic() - 0.3)
    assert held == {}


def test_without_touchpoints_nothing_waits() -> None:
    pending = {CUSTOMERS_3: records(CUSTOMERS_3, 1), SCORES_1: records(SCORES_1, 1)}
    assert projector()._held_back(pending, 2, others_since=time.monotonic()) == {}


def test_a_full_batch_is_written_whole() -> None:
    pending = {RESOLVED_0: records(RESOLVED_0, 6), CUSTOMERS_3: records(CUSTOMERS_3, 4)}
    held = projector(flush_rows=10)._held_back(pending, 10, others_since=time.monotonic())
    assert held == {}
