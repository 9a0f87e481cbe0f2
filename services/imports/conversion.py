"""Rows to prepared events: each row's events judged by ``EventIntake`` before anything is sent.

A row is all or nothing: if intake refuses any of its events, the row gives none, and each
problem is named by the column its value came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from events.intake import EventIntake
from events.timestamps import now_utc
from services.imports.header import Record
from services.imports.rows import Converted, RowConverter

CHUNK_ROWS = 1000


def convert_records(
    records: Iterable[Record], converter: RowConverter, intake: EventIntake, tenant: str
) -> Iterator[Converted]:
    """Every record's outcome, in file order (prepared in chunks: one intake clock per chunk)."""
    it = iter(records)
    while chunk := [converter.convert(r) for r in islice(it, CHUNK_ROWS)]:
        _prepare(chunk, intake, tenant)
        yield from chunk


def _prepare(chunk: list[Converted], intake: EventIntake, tenant: str) -> None:
    events: list[object] = [e for row in chunk if not row.problems for e in row.events]
    results = iter(intake.prepare_batch(events, tenant, now_utc()))
    for row in chunk:
        if row.problems:
            continue
        for result in islice(results, len(row.events)):
            if isinstance(result, list):
                for problem in result:
                    row.refuse(
                        row.column_of(problem.pointer), f"{problem.pointer}: {problem.message}"
                    )
            else:
                row.prepared.append(result)
        if row.problems:
            row.prepared.clear()
