"""A cell to the value of a declared custom attribute (``attributes.<name>`` in a mapping).

Cells are text; the declaration says what the value is (``1,200`` for a number is 1200,
``はい`` for a boolean is true, ``1980/1/2`` for a date is ``1980-01-02``, an enum value
matched ignoring case and width). An undeclared attribute stays text, and intake refuses
the row naming it.
"""

from __future__ import annotations

import unicodedata

from events.attributes import Declaration
from services.imports import values
from services.imports.dates import DateOrder, parse_date
from services.imports.history import typed_value


def attribute_value(
    text: str, declared: Declaration | None, order: DateOrder
) -> str | int | float | bool:
    """``text`` as ``declared`` says; raises ``ValueProblem`` or ``DateProblem`` naming why."""
    kind = declared.type if declared else "string"
    if kind in ("number", "integer", "boolean"):
        value: str | int | float | bool = typed_value(text, {"type": kind})
        return value
    if kind == "date":
        return parse_date(text, order).isoformat()
    if kind == "enum" and declared is not None:
        return _enum(text, declared)
    return text


def _enum(text: str, declared: Declaration) -> str:
    if text in declared.values:
        return text
    folded = _fold(text)
    for value in declared.values:
        if _fold(value) == folded:
            return value
    shown = ", ".join(declared.values[:20])
    raise values.ValueProblem(f"{text!r} is not one of {declared.name}'s values ({shown})")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()
