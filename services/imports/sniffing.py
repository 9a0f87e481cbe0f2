"""Whether an uploaded file is what its name says (CSV text or an Excel workbook), said at once.

An upload is answered before its rows are read, so what can be told from the first bytes is
told then (a PDF named ``.csv``, an old ``.xls`` named ``.xlsx``, a workbook without the
sheet asked for), and the job does not start for a file it could never read.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from services.imports.errors import ImportFileError
from services.imports.readers import CSV_SUFFIXES, XLSX_SUFFIXES

SUFFIXES = CSV_SUFFIXES + XLSX_SUFFIXES
_ZIP = b"PK\x03\x04"
_OLE = bytes.fromhex("d0cf11e0a1b11ae1")  # .xls, .doc: the old Office container
_UTF16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SAMPLE = 1 << 16


def sniff(path: Path, suffix: str, sheet: str | None = None) -> None:
    """Raise ``ImportFileError`` saying what is wrong with ``path`` for a ``suffix`` file."""
    with path.open("rb") as f:
        head = f.read(SAMPLE)
    if not head:
        raise ImportFileError("the file is empty")
    if head.startswith(_OLE):
        raise ImportFileError("this is an old Excel (.xls) or Office file: save it as .xlsx or CSV")
    if suffix in XLSX_SUFFIXES:
        _workbook(path, head, sheet)
    elif head.startswith(_ZIP):
        raise ImportFileError(f"this is a zip archive (an Excel workbook?), not {suffix} text: "
                              "upload it with an .xlsx name")  # fmt: skip
    elif not head.startswith(_UTF16) and (at := head.find(b"\x00")) >= 0:
        raise ImportFileError(f"binary data, not CSV text (a NUL byte at offset {at})")


def _workbook(path: Path, head: bytes, sheet: str | None) -> None:
    if not head.startswith(_ZIP):
        raise ImportFileError(f"not an Excel workbook (an .xlsx file is a zip archive; this one "
                              f"starts with {head[:8]!r})")  # fmt: skip
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        names = CalamineWorkbook.from_path(str(path)).sheet_names
    except (CalamineError, OSError, ValueError) as exc:
        raise ImportFileError(f"cannot read as an Excel workbook: {exc}") from None
    if not names:
        raise ImportFileError("the workbook has no sheets")
    if sheet is not None and sheet not in names:
        raise ImportFileError(f"no sheet {sheet!r} (the sheets: {', '.join(names)})")
