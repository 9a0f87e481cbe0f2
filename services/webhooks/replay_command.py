"""``touchline webhooks replay --connector ID | --all``: stored deliveries through today's mappings."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.kafka.event_log import LogUnavailable
from services.platform.settings import Settings
from services.webhooks.replay import replay


def add_webhooks_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    webhooks = sub.add_parser("webhooks", help="provider webhook deliveries kept on webhooks.raw")
    actions = webhooks.add_subparsers(required=True, metavar="ACTION")
    action = actions.add_parser(
        "replay", help="map stored deliveries again; publish the touchpoints they did not give"
    )
    which = action.add_mutually_exclusive_group(required=True)
    which.add_argument("--connector", metavar="ID", help="one connector's deliveries")
    which.add_argument("--all", action="store_true", help="every connector's deliveries")
    action.add_argument("--dry-run", action="store_true", help="count, publish nothing")
    action.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    try:
        summary = asyncio.run(replay(settings, args.connector, dry_run=args.dry_run))
    except LogUnavailable as exc:
        print(f"webhooks replay: nothing published: {exc}", file=sys.stderr)
        return 1
    for line in summary.lines():
        print(f"webhooks replay: {line}")
    return 0
