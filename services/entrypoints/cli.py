"""The ``touchline`` command. Each subcommand wires its pieces from one ``Settings``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from services.auth.keys import ROLES
from services.platform.settings import Settings, SettingsError

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"touchline: configuration error: {exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="touchline", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _kafka_commands(sub)
    _key_commands(sub)

    serve = sub.add_parser("serve", help="run the HTTP ingest API")
    serve.set_defaults(handler=_serve)

    worker = sub.add_parser("worker", help="run the stream processors (identity, engagement)")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(handler=_worker)

    status = sub.add_parser("status", help="each stage's state, lag, rate and last error")
    status.set_defaults(handler=_status)

    up = sub.add_parser("up", help="broker, topics, API and demo traffic in one process tree")
    up.add_argument("--no-demo", action="store_true", help="do not publish simulated traffic")
    up.add_argument("--demo-customers", type=int, default=200)
    up.add_argument("--demo-rate", type=float, default=20.0, help="demo events per second")
    up.set_defaults(handler=_up)

    from services.attributes.cli import add_attributes_command
    from services.entrypoints.export_command import add_export_action
    from services.entrypoints.projection_commands import add_projection_commands
    from services.entrypoints.segments_command import add_segments_command
    from services.identity.cli import add_identity_command
    from services.imports.cli import add_import_command
    from services.publishing.cli import add_publish_command
    from services.simulator.cli import add_simulate_command
    from services.webhooks.cli import add_connectors_command
    from services.webhooks.replay_command import add_webhooks_command

    add_simulate_command(sub)
    add_publish_command(sub)
    add_export_action(add_identity_command(sub))
    add_import_command(sub)
    add_attributes_command(sub)
    add_projection_commands(sub)
    add_connectors_command(sub)
    add_webhooks_command(sub)
    add_segments_command(sub)
    return parser


def _kafka_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kafka = sub.add_parser("kafka", help="the local single-node Kafka broker")
    actions = kafka.add_subparsers(required=True, metavar="ACTION")
    for name, help_text in (
        ("start", "fetch jars if needed, start the broker, create the topics"),
        ("stop", "stop the broker started from this data dir"),
        ("status", "is a broker listening at TOUCHLINE_KAFKA_BOOTSTRAP?"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.set_defaults(handler=_kafka, action=name)


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from services.kafka.broker import BrokerError, LocalKafkaBroker
    from services.kafka.topics import ensure_topics, wait_for_coordinator

    broker = LocalKafkaBroker(settings)
    try:
        if args.action == "start":
            status = broker.start()
            created = asyncio.run(ensure_topics(settings))
            asyncio.run(wait_for_coordinator(settings))
            print(f"kafka: {status.describe()}")
            if created:
                print(f"kafka: created topics {', '.join(created)}")
        elif args.action == "stop":
            broker.stop()
            print(f"kafka: {broker.status().describe()}")
        else:
            status = broker.status()
            print(f"kafka: {status.describe()}")
            return 0 if status.listening else 3
    except BrokerError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 1
    return 0


def _key_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="create and revoke API keys")
    actions = keys.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="print a new key alone on stdout")
    create.add_argument("--tenant", help="the key's tenant (every role but operator)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--types", nargs="*", default=[], help="publisher only: type patterns")
    create.set_defaults(handler=_keys_create)
    revoke = actions.add_parser("revoke", help="revoke a key (the key or its id)")
    revoke.add_argument("key")
    revoke.set_defaults(handler=_keys_revoke)


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from services.auth.keys import PLATFORM, KeyError_
    from services.auth.sqlite import SqliteKeyStore

    types = tuple(t for item in args.types for t in item.split(",") if t)
    if (args.role == "operator") != (args.tenant is None):
        print("keys: " + ("operator keys are the platform's: no --tenant" if args.tenant
                          else f"a {args.role} key needs --tenant"), file=sys.stderr)  # fmt: skip
        return 2
    try:
        store = SqliteKeyStore(settings.keys_db_path)
        print(store.create(args.tenant or PLATFORM, args.role, types))
    except KeyError_ as exc:
        print(f"keys: {exc}", file=sys.stderr)
        return 2
    return 0


def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from services.auth.sqlite import SqliteKeyStore

    if SqliteKeyStore(settings.keys_db_path).revoke(args.key):
        print("keys: revoked", file=sys.stderr)
        return 0
    print("keys: no such active key", file=sys.stderr)
    return 1


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from services.entrypoints.serve import serve_http

    serve_http(settings)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from services.entrypoints.roots.worker import run_worker

    run_worker(settings, args.loglevel)
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from services.platform.status import run_status

    return run_status(settings)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from services.entrypoints.up import run_up

    return run_up(
        settings, demo=not args.no_demo, customers=args.demo_customers, rate=args.demo_rate
    )


if __name__ == "__main__":
    sys.exit(main())
