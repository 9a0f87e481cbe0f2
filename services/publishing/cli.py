"""The ``touchline publish`` subcommand."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from services.platform.settings import Settings
from services.publishing.file_publish import (
    Line,
    PublishFailed,
    PublishSummary,
    publish_http,
    publish_kafka,
    read_ndjson,
)

SPREADSHEETS = frozenset({".csv", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"})


def add_publish_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "publish", help="send an NDJSON file of events (HTTP API or straight to Kafka)"
    )
    cmd.add_argument("file", type=Path)
    cmd.add_argument(
        "--kafka", action="store_true", help="write straight to Kafka with the Publisher"
    )
    cmd.add_argument("--tenant", help="with --kafka: the tenant the events belong to")
    cmd.add_argument(
        "--url", help="API base URL (default http://TOUCHLINE_HTTP_HOST:TOUCHLINE_HTTP_PORT)"
    )
    cmd.add_argument("--key", help="publisher API key (default $TOUCHLINE_API_KEY)")
    cmd.add_argument("--batch", type=int, default=500)
    cmd.set_defaults(handler=run_publish)


def run_publish(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.exists():
        print(f"publish: no such file: {args.file}", file=sys.stderr)
        return 2
    if args.file.suffix.lower() in SPREADSHEETS:
        print(
            f"publish: {args.file} is a {args.file.suffix} file; publish sends NDJSON, one event "
            "envelope per line. Import spreadsheets with `touchline import customers FILE` "
            "(a customer master) or `touchline import history FILE` (past touchpoints).",
            file=sys.stderr,
        )
        return 2
    if args.kafka and not args.tenant:
        print("publish: --kafka needs --tenant", file=sys.stderr)
        return 2
    summary = PublishSummary()
    total = sum(1 for line in args.file.open("rb") if line.strip())
    return send_lines("publish", args, settings, read_ndjson(args.file, summary), total, summary)


def send_lines(
    command: str,
    args: argparse.Namespace,
    settings: Settings,
    lines: Iterable[Line],
    total: int,
    summary: PublishSummary,
) -> int:
    """Send ``lines`` over HTTP or, with ``args.kafka``, straight to Kafka; report and return the exit code.

    Any rejected line makes the exit status 1: a script that checks it must not
    take a half-published file for a published one.
    """
    batch = getattr(args, "batch", 500)
    with tqdm(total=total, unit="ev", file=sys.stderr, disable=None) as progress:
        try:
            if args.kafka:
                asyncio.run(
                    publish_kafka(
                        lines,
                        settings.kafka_bootstrap,
                        args.tenant,
                        settings.default_phone_region,
                        summary,
                        batch,
                        progress,
                        settings=settings,
                    )
                )
            else:
                key = args.key or os.environ.get("TOUCHLINE_API_KEY")
                if not key:
                    print(f"{command}: give --key or set TOUCHLINE_API_KEY", file=sys.stderr)
                    return 2
                url = args.url or f"http://{settings.http_host}:{settings.http_port}"
                asyncio.run(publish_http(lines, url, key, summary, batch, progress))
        except PublishFailed as exc:
            summary.failed = str(exc)
    summary.report(sys.stderr)
    return 1 if summary.failed or summary.rejected else 0
