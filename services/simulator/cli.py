"""The ``touchline simulate`` subcommand."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from events.timestamps import TimestampError, parse_instant
from services.platform.settings import Settings
from services.publishing.cli import send_lines
from services.publishing.file_publish import (
    Line,
    PublishSummary,
)
from services.simulator.master import LAYOUTS, MasterConfig
from services.simulator.master_files import SUFFIXES, write_master
from services.simulator.population import REGIONS
from services.simulator.simulation import SimulationConfig, simulate


def add_simulate_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "simulate", help="generate omnichannel customer journeys as NDJSON envelopes"
    )
    cmd.add_argument("--customers", type=int, default=100)
    cmd.add_argument("--seed", type=int, default=1)
    cmd.add_argument("--days", type=int, default=90, help="length of the history")
    cmd.add_argument("--end", help="end of the history, RFC 3339 (default: today 00:00 UTC)")
    cmd.add_argument("--tenant", default="demo")
    cmd.add_argument("--duplicate-rate", type=float, default=0.02)
    cmd.add_argument("--disorder-rate", type=float, default=0.05)
    cmd.add_argument("--late-rate", type=float, default=0.01)
    cmd.add_argument("--invalid-rate", type=float, default=0.01)
    cmd.add_argument("--out", type=Path, help="write here instead of stdout")
    cmd.add_argument(
        "--truth", type=Path, help="write the person behind each identifier here (NDJSON)"
    )
    cmd.add_argument(
        "--region",
        choices=REGIONS,
        default="US",
        help="the people's phone numbers: US, or JP (Japanese mobiles)",
    )
    cmd.add_argument(
        "--master",
        type=Path,
        help="also write a customer-master export for some of the people (.csv or .xlsx)",
    )
    cmd.add_argument(
        "--master-share", type=float, default=0.6, help="share of the people in the export"
    )
    cmd.add_argument(
        "--master-layout",
        choices=LAYOUTS,
        default="japanese",
        help="the export's columns: a Japanese CRM's (CP932 CSV) or an English one's",
    )
    cmd.add_argument(
        "--publish", action="store_true", help="send through the HTTP API instead of writing"
    )
    cmd.add_argument("--kafka", action="store_true", help="with --publish: straight to Kafka")
    cmd.add_argument("--url", help="API base URL for --publish")
    cmd.add_argument("--key", help="publisher key for --publish (default $TOUCHLINE_API_KEY)")
    cmd.set_defaults(handler=run_simulate)


def _end(text: str | None) -> datetime:
    if text:
        return parse_instant(text)
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        end = _end(args.end)
    except TimestampError as exc:
        print(f"simulate: --end: {exc}", file=sys.stderr)
        return 2
    if args.master and args.master.suffix.lower() not in SUFFIXES:
        print(
            f"simulate: --master: expected a .csv or .xlsx file, got {args.master}", file=sys.stderr
        )
        return 2
    if not 0 <= args.master_share <= 1:
        print("simulate: --master-share: expected a share between 0 and 1", file=sys.stderr)
        return 2
    config = SimulationConfig(
        customers=args.customers,
        seed=args.seed,
        days=args.days,
        tenant=args.tenant,
        duplicate_rate=args.duplicate_rate,
        disorder_rate=args.disorder_rate,
        late_rate=args.late_rate,
        invalid_rate=args.invalid_rate,
        region=args.region,
        master=MasterConfig(args.master_share, args.master_layout) if args.master else None,
    )
    sim = simulate(config, end)
    if args.master and sim.master:
        write_master(sim.master, args.master)
        print(
            f"simulate: {len(sim.master.rows)} customer-master rows in {args.master}",
            file=sys.stderr,
        )
    if args.truth:
        args.truth.write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in sim.truth()))
    stats = ", ".join(f"{k} {v}" for k, v in sorted(sim.stats.items()))
    print(
        f"simulate: {len(sim.events)} events for {len(sim.people)} people ({stats})",
        file=sys.stderr,
    )
    if args.publish:
        return _publish(args, settings, sim.events)
    data = b"".join(orjson.dumps(e) + b"\n" for e in sim.events)
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def _publish(args: argparse.Namespace, settings: Settings, events: list[dict[str, object]]) -> int:
    lines = [Line(i + 1, e) for i, e in enumerate(events)]
    return send_lines("simulate", args, settings, lines, len(lines), PublishSummary())
