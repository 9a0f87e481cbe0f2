"""From a file and what its user said about it to the rows to convert: one path for both doors.

``touchline import`` and an upload (``POST /v1/imports``) describe an import the same way
(``ImportRequest``) and get the same ``Plan``, so a file imported either way gives the same
events. What the plan found out (the encoding, the preset, the header row) goes to ``say``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from events.attributes import AttributeRules, Declaration
from events.catalog import load_catalog
from events.intake import EventIntake
from events.privacy.protector import EnvelopeProtector
from events.timestamps import format_instant
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.dates import parse_instant
from services.imports.errors import MappingError
from services.imports.header import Table, column_key, read_table
from services.imports.history import HistoryRows, history_mapping
from services.imports.mapping import CustomerMapping, customer_mapping
from services.imports.presets import any_preset_knows, choose_preset, presets
from services.imports.readers import RowSource, open_rows
from services.imports.rows import Converted, EventContext, RowConverter

Kind = Literal["customers", "history"]
Say = Callable[[str], None]
TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # as the envelope schema says


@dataclass(frozen=True)
class ImportRequest:
    """What the user asked for; ``mapping`` is a mapping document's content (TOML or JSON)."""

    path: Path
    kind: Kind
    tenant: str
    source: str | None = None  # default import:<file name>
    as_of: str | None = None  # occurred_at for rows without a time column
    region: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    preset: str = "auto"
    mapping: Mapping[str, Any] | None = None
    mapping_name: str = "mapping"
    file_name: str | None = None  # as the user knows it (an upload is stored under another)


@dataclass
class Plan:
    """A file opened and understood: the rows to convert and how."""

    rows: Iterator[Converted]
    region: str
    approx_rows: int | None


@dataclass(frozen=True)
class Doors:
    """What the plan's intake seals with and checks attributes against (none: a dry run)."""

    default_region: str
    protector: EnvelopeProtector | None = None
    attributes: AttributeRules | None = None


def plan_import(request: ImportRequest, doors: Doors, say: Say) -> Plan:
    """Raises ``ImportFileError``, ``MappingError`` or ``DateProblem`` before the first row."""
    if not TENANT.match(request.tenant):
        raise MappingError(
            f"tenant {request.tenant!r}: lower-case letters, digits, _ and - (at most 63)"
        )
    if request.kind == "history" and request.mapping is None:
        raise MappingError("a history import needs a mapping (its type, time and columns)")
    source = open_rows(request.path, request.encoding, request.sheet)
    say(f"reading {_file_name(request)}: {source.described}")
    if request.kind == "history":
        return _history_plan(request, doors, source, say)
    return _customers_plan(request, doors, source, say)


def _customers_plan(request: ImportRequest, doors: Doors, source: RowSource, say: Say) -> Plan:
    mapping = None
    if request.mapping is not None:
        mapping = customer_mapping(request.mapping, request.mapping_name)
    elif request.preset != "auto":
        if request.preset not in presets():
            raise MappingError(
                f"unknown preset {request.preset!r} (one of auto, {', '.join(presets())})"
            )
        mapping = presets()[request.preset]
    table = read_table(source.rows, mapping.knows if mapping else any_preset_knows)
    if mapping is None:
        mapping = _auto(table, say)
    region = _region(request, mapping.options.region, doors)
    context = _context(request, region, mapping.options.timezone)
    declared = _declared(doors, request.tenant)
    converter = CustomerRows(mapping, table.columns, context,
                             strict=request.mapping is not None, attributes=declared)  # fmt: skip
    return _finish(table, converter, context, source, doors, say)


def _auto(table: Table, say: Say) -> CustomerMapping:
    choice = choose_preset(table.columns)
    if choice is None:
        raise MappingError(f"no preset knows these columns: {', '.join(table.columns)}; give a mapping")  # fmt: skip
    say(f"preset auto: {choice.describe()}")
    return choice.mapping


def _history_plan(request: ImportRequest, doors: Doors, source: RowSource, say: Say) -> Plan:
    assert request.mapping is not None  # plan_import checked
    mapping = history_mapping(request.mapping, request.mapping_name, load_catalog())
    table = read_table(source.rows, mapping.knows)
    region = _region(request, mapping.options.region, doors)
    context = _context(request, region, mapping.options.timezone)
    converter = HistoryRows(mapping, table.columns, context)
    return _finish(table, converter, context, source, doors, say)


def _region(request: ImportRequest, mapped: str | None, doors: Doors) -> str:
    return (request.region or mapped or doors.default_region).upper()


def _declared(doors: Doors, tenant: str) -> Mapping[str, Declaration]:
    return doors.attributes.declared(tenant) if doors.attributes is not None else {}


def _finish(
    table: Table,
    converter: RowConverter,
    context: EventContext,
    source: RowSource,
    doors: Doors,
    say: Say,
) -> Plan:
    ignored = [c for c in table.columns if c and not converter.knows(column_key(c))]
    say(f"header in row {table.header_row}"
        + (f"; columns not imported: {', '.join(ignored)}" if ignored else ""))  # fmt: skip
    intake = EventIntake(context.region, protector=doors.protector, attributes=doors.attributes)
    rows = convert_records(table.records, converter, intake, context.tenant)
    approx = source.approx_rows - table.header_row if source.approx_rows else None
    return Plan(rows, context.region, approx)


def _context(request: ImportRequest, region: str, zone: ZoneInfo) -> EventContext:
    if request.as_of:
        at = parse_instant(request.as_of, zone)
    else:
        at = format_instant(dt.datetime.fromtimestamp(request.path.stat().st_mtime, dt.UTC))
    source = request.source or f"import:{_file_name(request)}"
    return EventContext(request.tenant, source[:128], at, region)


def _file_name(request: ImportRequest) -> str:
    return request.file_name or request.path.name
