"""What an import tells its user: a summary on the terminal and every problem in a CSV file."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TextIO

from services.imports.rows import Converted, RowProblem


class ProblemReport:
    """``row,column,problem`` lines, one per problem; written even when there are none."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open(
            "w", encoding="utf-8-sig", newline=""
        )  # BOM: Excel reads it as UTF-8
        self._writer = csv.writer(self._file)
        self._writer.writerow(("row", "column", "problem"))

    def write(self, problems: list[RowProblem]) -> None:
        self._writer.writerows(problems)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ProblemReport:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class ImportSummary:
    rows_read: int = 0
    events_sent: int = 0
    rows_refused: int = 0
    duplicate_rows: int = 0
    blank_rows: int = 0
    problems: int = 0
    first_problems: list[RowProblem] = field(default_factory=list)
    failed: str | None = None
    dry_run: bool = False
    _seen: set[int] = field(default_factory=set, repr=False)

    def take(self, row: Converted, report: ProblemReport | None, limit: int = 20) -> list[int]:
        """Count ``row``; return the indexes of its prepared events not seen earlier in the file."""
        if row.blank:
            self.blank_rows += 1
            return []
        self.rows_read += 1
        if row.problems:
            self.rows_refused += 1
            self.problems += len(row.problems)
            if report is not None:
                report.write(row.problems)
            self.first_problems.extend(row.problems[: max(0, limit - len(self.first_problems))])
            return []
        fresh = []
        for i, prepared in enumerate(row.prepared):
            key = int(prepared.event_id.replace("-", ""), 16)
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(i)
        if not fresh:
            self.duplicate_rows += 1
        return fresh

    def print(self, out: TextIO) -> None:
        sent = (
            f"events ready {self.events_sent} (dry run: none sent)"
            if self.dry_run
            else f"events sent {self.events_sent}"
        )
        print(
            f"rows read {self.rows_read}, {sent}, rows refused {self.rows_refused}, "
            f"duplicates in the file {self.duplicate_rows}",
            file=out,
        )
        for problem in self.first_problems:
            where = f", {problem.column}" if problem.column else ""
            print(f"  row {problem.row}{where}: {problem.problem}", file=out)
        if self.problems > len(self.first_problems):
            print(f"  ... and {self.problems - len(self.first_problems)} more", file=out)
        if self.failed:
            print(f"stopped: {self.failed}", file=out)
