"""Which records a flush keeps for later: profile topics wait while touchpoints go first."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import TopicPartition

from events.topics import CUSTOMERS, RESOLVED, SCORES
from projections.flushes import held_back
from projections.rows import SourceRecord

RESOLVED_0 = TopicPartition(RESOLVED, 0)
CUSTOMERS_3 = TopicPartition(CUSTOMERS, 3)
SCORES_1 = TopicPartition(SCORES, 1)


def records(tp: TopicPartition, n: int) -> list[SourceRecord]:
    return [SourceRecord(tp.topic, tp.partition, i, None, b"{}", 0) for i in range(n)]


def hold(
    pending: Any, count: int, others_since: float, flush_rows: int = 1000, interval_s: float = 0.25
) -> Any:
    return held_back(pending, count, others_since, flush_rows, interval_s)


def test_young_profile_records_wait_while_touchpoints_are_written() -> None:
    pending = {RESOLVED_0: records(RESOLVED_0, 2), CUSTOMERS_3: records(CUSTOMERS_3, 1),
               SCORES_1: records(SCORES_1, 4)}  # fmt: skip
    held = hold(pending, 7, time.monotonic())
    assert held == {CUSTOMERS_3: pending[CUSTOMERS_3], SCORES_1: pending[SCORES_1]}


def test_profile_records_older_than_the_interval_go_with_the_touchpoints() -> None:
    pending = {RESOLVED_0: records(RESOLVED_0, 2), CUSTOMERS_3: records(CUSTOMERS_3, 1)}
    held = hold(pending, 3, time.monotonic() - 0.3, interval_s=0.25)
    assert held == {}


def test_without_touchpoints_nothing_waits() -> None:
    pending = {CUSTOMERS_3: records(CUSTOMERS_3, 1), SCORES_1: records(SCORES_1, 1)}
    assert hold(pending, 2, time.monotonic()) == {}


def test_a_full_batch_is_written_whole() -> None:
    pending = {RESOLVED_0: records(RESOLVED_0, 6), CUSTOMERS_3: records(CUSTOMERS_3, 4)}
    held = hold(pending, 10, time.monotonic(), flush_rows=10)
    assert held == {}
