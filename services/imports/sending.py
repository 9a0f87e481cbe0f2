"""Streaming an import's events to Kafka through the ``Publisher``, batch by batch.

Each batch waits for Kafka's acknowledgement before the next rows are converted; events a row
shares with an earlier row of the file (the same ids) are sent once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from services.imports.report import ImportSummary, ProblemReport
from services.imports.rows import Converted
from services.publishing.publisher import Publisher

Send = Callable[[list[dict[str, Any]]], Awaitable[object]]


async def send_rows(
    rows: Iterable[Converted],
    send: Send,
    summary: ImportSummary,
    report: ProblemReport | None,
    batch: int = 1000,
    progress: Any = None,
) -> None:
    """Account for every row in ``summary`` and ``report``; ``send`` each full batch of events."""
    pending: list[dict[str, Any]] = []
    for row in rows:
        pending += [row.events[i] for i in summary.take(row, report)]
        if progress is not None:
            progress.update(1)
        if len(pending) >= batch:
            await send(pending)
            summary.events_sent += len(pending)
            pending = []
    if pending:
        await send(pending)
        summary.events_sent += len(pending)


def publisher_send(publisher: Publisher) -> Send:
    return publisher.publish_many
