"""Streaming an import's events to Kafka through the ``Publisher``, batch by batch.

The events were judged by ``EventIntake`` as the rows were converted, so the batches go to
``Publisher.send_prepared``; ``publish_many`` would judge every event a second time (the
whole import takes about half as long again in ``bench/imports.py``). Each batch waits for Kafka's
acknowledgement before the next rows are converted; events a row shares with an earlier row
of the file (the same ids) are sent once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from events.intake import PreparedEvent
from services.imports.report import ImportSummary, ProblemReport
from services.imports.rows import Converted

Send = Callable[[list[PreparedEvent]], Awaitable[object]]


async def send_rows(
    rows: Iterable[Converted],
    send: Send,
    summary: ImportSummary,
    report: ProblemReport | None,
    batch: int = 1000,
    progress: Any = None,
) -> None:
    """Account for every row in ``summary`` and ``report``; ``send`` each full batch of events."""
    pending: list[PreparedEvent] = []
    for row in rows:
        pending += [row.prepared[i] for i in summary.take(row, report)]
        if progress is not None:
            progress.update(1)
        if len(pending) >= batch:
            await send(pending)
            summary.events_sent += len(pending)
            pending = []
    if pending:
        await send(pending)
        summary.events_sent += len(pending)
