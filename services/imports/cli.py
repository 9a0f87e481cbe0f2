"""``touchline import customers|history FILE``: a CSV or Excel file into Touchline, row by row accounted for."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiokafka.errors import KafkaError
from tqdm import tqdm

from services.attributes.sqlite import read_attribute_rules
from services.imports.dates import DateProblem
from services.imports.errors import ImportFileError, MappingError
from services.imports.mapping import load_document
from services.imports.planning import Doors, ImportRequest, Plan, plan_import
from services.imports.presets import presets
from services.imports.report import ImportSummary, ProblemReport
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
    request = ImportRequest(
        path=args.file,
        kind=args.kind,
        tenant=args.tenant,
        source=args.source,
        as_of=args.as_of,
        region=args.region,
        encoding=args.encoding,
        sheet=args.sheet,
        preset=getattr(args, "preset", "auto"),
        mapping=load_document(args.mapping) if args.mapping else None,
        mapping_name=str(args.mapping),
    )
    doors = Doors(
        settings.default_phone_region,
        None if args.dry_run else open_sealer(settings),  # a dry run makes no keys
        read_attribute_rules(settings.attributes_db_path),
    )
    return plan_import(request, doors, _say)


def _say(text: str) -> None:
    print(f"import: {text}", file=sys.stderr)
