"""``touchline import customers|history FILE``: a CSV or Excel file into Touchline, row by row accounted for."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from aiokafka.errors import KafkaError
from tqdm import tqdm

from events.catalog import load_catalog
from events.intake import EventIntake
from events.timestamps import format_instant
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.dates import DateProblem, parse_instant
from services.imports.errors import ImportFileError, MappingError
from services.imports.header import Table, column_key, read_table
from services.imports.history import HistoryRows, history_mapping
from services.imports.mapping import CustomerMapping, customer_mapping, load_document
from services.imports.presets import any_preset_knows, choose_preset, presets
from services.imports.readers import RowSource, open_rows
from services.imports.report import ImportSummary, ProblemReport
from services.imports.rows import Converted, EventContext, RowConverter
from services.imports.sending import send_rows
from services.platform.settings import Settings
from services.privacy.wiring import open_sealer
from services.publishing.file_publish import PublishFailed
from services.publishing.publisher import Publisher


def add_import_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser("import", help="import customers or interaction history from CSV or Excel")
    kinds = cmd.add_subparsers(required=True, metavar="KIND")
    customers = kinds.add_parser(
        "customers", help="one customer.profile_updated per row (and consent)"
    )
    customers.add_argument("--preset", default="auto", choices=["auto", *presets()])
    customers.add_argument(
        "--mapping", type=Path, help="TOML or JSON mapping (instead of a preset)"
    )
    customers.set_defaults(handler=run_import, kind="customers")
    history = kinds.add_parser("history", help="one touchpoint per row, of the mapping's type")
    history.add_argument("--mapping", type=Path, required=True, help="TOML or JSON mapping")
    history.set_defaults(handler=run_import, kind="history")
    for kind in (customers, history):
        _common_arguments(kind)


def _common_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--tenant", required=True)
    cmd.add_argument("--source", help="the events' source (default import:<file name>)")
    cmd.add_argument(
        "--as-of", help="occurred_at for rows without a time column (default: the file's mtime)"
    )
    cmd.add_argument(
        "--region",
        help="phone region and default country (default: the mapping's, else TOUCHLINE_DEFAULT_PHONE_REGION)",
    )
    cmd.add_argument("--encoding", help="CSV encoding (default: detected)")
    cmd.add_argument("--sheet", help="Excel sheet name (default: the first)")
    cmd.add_argument("--report", type=Path, help="problems CSV (default: <file>.report.csv)")
    cmd.add_argument("--batch", type=int, default=1000)
    cmd.add_argument("--dry-run", action="store_true", help="convert and report, send nothing")


@dataclass
class Plan:
    """A file opened and understood: the rows to convert and how."""

    rows: Iterator[Converted]
    region: str
    approx_rows: int | None


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        plan = _plan(args, settings)
    except (ImportFileError, MappingError, DateProblem) as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 2
    summary = ImportSummary(dry_run=args.dry_run)
    report_path = args.report or args.file.with_name(args.file.name + ".report.csv")
    with (
        ProblemReport(report_path) as report,
        tqdm(total=plan.approx_rows, unit="rows", file=sys.stderr, disable=None) as bar,
    ):
        try:
            asyncio.run(_send(args, settings, plan, summary, report, bar))
        except PublishFailed as exc:
            summary.failed = str(exc)
    summary.print(sys.stderr)
    print(f"import: report in {report_path}", file=sys.stderr)
    return 1 if summary.rows_refused or summary.failed else 0


async def _send(
    args: argparse.Namespace,
    settings: Settings,
    plan: Plan,
    summary: ImportSummary,
    report: ProblemReport,
    bar: object,
) -> None:
    if args.dry_run:
        await send_rows(plan.rows, _nothing, summary, report, args.batch, bar)
        return
    try:
        async with Publisher(
            settings.kafka_bootstrap, args.tenant, default_region=plan.region, settings=settings
        ) as publisher:
            await send_rows(plan.rows, publisher.send_prepared, summary, report, args.batch, bar)
    except (KafkaError, OSError) as exc:
        raise PublishFailed(f"Kafka at {settings.kafka_bootstrap}: {exc}") from None


async def _nothing(events: object) -> None:
    return None


def _plan(args: argparse.Namespace, settings: Settings) -> Plan:
    if not _TENANT.match(args.tenant):
        raise MappingError(
            f"--tenant {args.tenant!r}: lower-case letters, digits, _ and - (at most 63)"
        )
    source = open_rows(args.file, args.encoding, args.sheet)
    _say(f"reading {args.file.name}: {source.described}")
    if args.kind == "history":
        return _history_plan(args, settings, source)
    mapping = (
        customer_mapping(load_document(args.mapping), str(args.mapping)) if args.mapping else None
    )
    if mapping is None and args.preset != "auto":
        mapping = presets()[args.preset]
    table = read_table(source.rows, mapping.knows if mapping else any_preset_knows)
    if mapping is None:
        mapping = _auto(table)
    region = (args.region or mapping.options.region or settings.default_phone_region).upper()
    context = _context(args, region, mapping.options.timezone)
    converter = CustomerRows(mapping, table.columns, context, strict=args.mapping is not None)
    return _finish(args, settings, table, converter, context, source)


def _auto(table: Table) -> CustomerMapping:
    choice = choose_preset(table.columns)
    if choice is None:
        raise MappingError(
            f"no preset knows these columns: {', '.join(table.columns)}; give --mapping"
        )
    _say(f"preset auto: {choice.describe()}")
    return choice.mapping


def _history_plan(args: argparse.Namespace, settings: Settings, source: RowSource) -> Plan:
    mapping = history_mapping(load_document(args.mapping), str(args.mapping), load_catalog())
    table = read_table(source.rows, mapping.knows)
    region = (args.region or mapping.options.region or settings.default_phone_region).upper()
    context = _context(args, region, mapping.options.timezone)
    converter = HistoryRows(mapping, table.columns, context)
    return _finish(args, settings, table, converter, context, source)


def _finish(
    args: argparse.Namespace,
    settings: Settings,
    table: Table,
    converter: RowConverter,
    context: EventContext,
    source: RowSource,
) -> Plan:
    ignored = [c for c in table.columns if c and not converter.knows(column_key(c))]
    _say(
        f"header in row {table.header_row}"
        + (f"; columns not imported: {', '.join(ignored)}" if ignored else "")
    )
    protector = None if args.dry_run else open_sealer(settings)  # a dry run makes no keys
    intake = EventIntake(context.region, protector=protector)
    rows = convert_records(table.records, converter, intake, context.tenant)
    approx = source.approx_rows - table.header_row if source.approx_rows else None
    return Plan(rows, context.region, approx)


def _context(args: argparse.Namespace, region: str, zone: ZoneInfo) -> EventContext:
    if args.as_of:
        at = parse_instant(args.as_of, zone)
    else:
        at = format_instant(dt.datetime.fromtimestamp(args.file.stat().st_mtime, dt.UTC))
    source = args.source or f"import:{args.file.name}"
    return EventContext(args.tenant, source[:128], at, region)


_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # as the envelope schema says


def _say(text: str) -> None:
    print(f"import: {text}", file=sys.stderr)
