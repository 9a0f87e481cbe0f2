"""Writing a customer-master export as the CRM would: CSV (Japanese in CP932) or Excel.

A Japanese export is CP932 (Shift_JIS as Windows writes it), what Japanese CRM and EC
packages hand out; an English one UTF-8. In Excel, a postal code that lost its leading zero
is a number, as a spreadsheet would have stored it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from services.simulator.master import MasterExport

SUFFIXES = (".csv", ".xlsx")
SHEETS = {"japanese": "顧客一覧", "english": "Customers"}
POSTAL_COLUMNS = {"japanese": "郵便番号", "english": "Zip"}


class MasterFileError(ValueError):
    """The export cannot be written to the path given (the message says why)."""


def write_master(export: MasterExport, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise MasterFileError(f"{path}: expected a name ending in {' or '.join(SUFFIXES)}")
    table = [list(export.columns)] + [
        [row.cells.get(column, "") for column in export.columns] for row in export.rows
    ]
    if suffix == ".csv":
        encoding = "cp932" if export.layout == "japanese" else "utf-8"
        with path.open("w", encoding=encoding, newline="") as f:
            csv.writer(f).writerows(table)
        return
    postal = export.columns.index(POSTAL_COLUMNS[export.layout])
    _write_xlsx(table, path, SHEETS[export.layout], postal)


def _write_xlsx(table: list[list[str]], path: Path, sheet: str, postal: int) -> None:
    from openpyxl import Workbook  # only for Excel output

    book = Workbook(write_only=True)
    out = book.create_sheet(sheet)
    out.append(table[0])
    for row in table[1:]:
        cells: list[str | int | None] = [text or None for text in row]
        if row[
            postal
        ].isdigit():  # a spreadsheet stores a postal code without its hyphen as a number
            cells[postal] = int(row[postal])
        out.append(cells)
    book.save(path)
