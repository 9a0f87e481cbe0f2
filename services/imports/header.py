"""Finding the header row and reading the rows under it as column -> text.

Exports often open with a title, a date or blank lines; the header is the row among the first
20 whose cells name the most columns the mapping (or any preset) knows, else the first row with
text in it. Column names are compared by :func:`column_key`, so ``First Name``, ``first_name``
and ``FIRST NAME`` or ``姓（カナ）`` and ``姓(カナ)`` are one column.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from services.imports.errors import ImportFileError
from services.imports.readers import Row

LOOK_AHEAD = 20
_NOISE = re.compile(r"[\s_\-()\[\]{}<>:：・/.*※]+")


@lru_cache(maxsize=4096)
def column_key(name: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", name).casefold())


@dataclass(frozen=True)
class Record:
    """One row under the header: its number in the file and its non-empty cells by column."""

    number: int
    values: dict[str, str]


@dataclass
class Table:
    header_row: int
    columns: list[str]
    records: Iterator[Record]


def read_table(rows: Iterator[Row], known: Callable[[str], bool]) -> Table:
    """Split ``rows`` into the header (see the module doc) and the records below it."""
    ahead: list[Row] = []
    for row in rows:
        ahead.append(row)
        if len(ahead) == LOOK_AHEAD:
            break
    at = _header_index(ahead, known)
    number, cells = ahead[at]
    columns = _unique([c.strip() for c in cells])
    rest = chain(ahead[at + 1 :], rows)
    return Table(number, columns, _records(columns, rest))


def _header_index(ahead: list[Row], known: Callable[[str], bool]) -> int:
    scores = [sum(1 for c in cells if c.strip() and known(column_key(c))) for _, cells in ahead]
    if scores and max(scores) > 0:
        return scores.index(max(scores))
    for i, (_, cells) in enumerate(ahead):
        if any(c.strip() for c in cells):
            return i
    raise ImportFileError("the file has no rows with text in them")


def _unique(columns: list[str]) -> list[str]:
    """A repeated column name gets ``#2``, ``#3`` ... so a mapping can name each one."""
    seen: dict[str, int] = {}
    out = []
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 or not name else f"{name}#{seen[name]}")
    return out


def _records(columns: list[str], rows: Iterator[Row]) -> Iterator[Record]:
    width = len(columns)
    for number, cells in rows:
        values = {columns[i]: c for i, c in enumerate(cells[:width]) if c and columns[i]}
        yield Record(number, values)
