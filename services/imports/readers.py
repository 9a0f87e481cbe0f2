"""Files as rows of text: each row numbered as a spreadsheet shows it (the first row is 1).

CSV is read as a stream in constant memory. For ``.xlsx``, calamine holds the sheet's cells in
its own (Rust) memory and hands Python one row at a time; a sheet has at most 1,048,576 rows.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from services.imports.encoding import Encoding, detect_encoding
from services.imports.errors import ImportFileError

Row = tuple[int, list[str]]
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
#: A decoding error in a CSV cell shows as this character (the row is refused, not the file).
UNDECODABLE = "\ufffd"


@dataclass
class RowSource:
    """The rows of one file, and what the user should be told about how it was read."""

    rows: Iterator[Row]
    described: str
    approx_rows: int | None = None


def open_rows(path: Path, encoding: str | None = None, sheet: str | None = None) -> RowSource:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    if suffix in XLSX_SUFFIXES:
        return _xlsx(path, sheet)
    if suffix in CSV_SUFFIXES:
        return _csv(path, encoding)
    raise ImportFileError(f"{path}: expected {', '.join(CSV_SUFFIXES + XLSX_SUFFIXES)}")


def _csv(path: Path, given: str | None) -> RowSource:
    try:
        found = detect_encoding(path, given)
    except ValueError as exc:
        raise ImportFileError(f"{path}: {exc}") from None
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _delimiter(path, found)
    lines = sum(1 for _ in path.open("rb"))
    name = "TSV" if delimiter == "\t" else "CSV"
    return RowSource(csv_rows(path, found, delimiter), f"{name}, {found.describe()}", lines)


def _delimiter(path: Path, found: Encoding) -> str:
    """Comma unless the first line holds more semicolons or tabs (European and some JP exports)."""
    with path.open(encoding=found.codec, errors="replace", newline="") as f:
        first = f.readline()
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def csv_rows(path: Path, found: Encoding, delimiter: str = ",") -> Iterator[Row]:
    with path.open(encoding=found.codec, errors="replace", newline="") as f:
        yield from enumerate(csv.reader(f, delimiter=delimiter), start=1)


def _xlsx(path: Path, sheet: str | None) -> RowSource:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        data = book.get_sheet_by_name(sheet) if sheet else book.get_sheet_by_index(0)
    except (CalamineError, OSError, ValueError) as exc:
        raise ImportFileError(f"{path}: cannot read as Excel: {exc}") from None
    # iter_rows starts at the sheet's first row even when the data starts lower
    rows = ((i, [cell_text(v) for v in row]) for i, row in enumerate(data.iter_rows(), start=1))
    return RowSource(rows, f"Excel, sheet {data.name!r}", data.total_height)


def cell_text(value: object) -> str:
    """A cell as the text a CSV export of it would hold (whole numbers without ``.0``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
