"""What converting one row gives: its events, or every problem found in it (never both)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from events.intake import PreparedEvent
from services.imports.errors import MappingError
from services.imports.header import Record, column_key
from services.imports.ids import import_event_id


class RowProblem(NamedTuple):
    """One thing wrong with a row: ``column`` is ``""`` when it is about the row as a whole."""

    row: int
    column: str
    problem: str


@dataclass
class Converted:
    number: int
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    #: JSON pointer prefixes of the events to the column their value came from
    sources: dict[str, str] = field(default_factory=dict)
    blank: bool = False
    prepared: list[PreparedEvent] = field(default_factory=list)

    def refuse(self, column: str, problem: str) -> None:
        self.problems.append(RowProblem(self.number, column, problem))

    def column_of(self, at: str) -> str:
        """The column behind an intake problem's pointer (``""`` if no single column)."""
        while at:
            if at in self.sources:
                return self.sources[at]
            at = at.rpartition("/")[0]
        return ""


class RowConverter(Protocol):
    """Turns the records of one file into events (customers or history)."""

    def convert(self, record: Record) -> Converted: ...

    def knows(self, key: str) -> bool: ...


@dataclass(frozen=True)
class EventContext:
    """What every event of one import shares."""

    tenant: str
    source: str
    occurred_at: str  # canonical UTC, for rows without a time column
    region: str


def envelope(
    context: EventContext, type_: str, occurred_at: str, ids: Mapping[str, str], payload: Any
) -> dict[str, Any]:
    """An event with its idempotent id (see ``ids``)."""
    event = {
        "tenant": context.tenant,
        "type": type_,
        "schema_version": 1,
        "occurred_at": occurred_at,
        "source": context.source,
        "identities": dict(ids),
        "payload": payload,
    }
    return {"event_id": import_event_id(context.tenant, event), **event}


def bind(
    mapped: Mapping[str, Any], columns: Sequence[str], strict: bool, what: str
) -> list[tuple[str, Any]]:
    """The file's columns that ``mapped`` (keyed by ``column_key``) names, in file order.

    ``strict`` (a mapping file, not a preset): a named column missing from the file is a typo.
    """
    found = [(c, mapped[column_key(c)]) for c in columns if c and column_key(c) in mapped]
    if strict:
        present = {column_key(c) for c, _ in found}
        missing = [k for k in mapped if k not in present]
        if missing:
            raise MappingError(
                f"{what}: columns not in the file: {', '.join(missing)} (its columns: {', '.join(columns)})"
            )
    return found
