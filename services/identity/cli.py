"""``touchline identity detach|merge|erase``: corrections to the identity graph, sent as commands.

The command is appended to ``identity.commands`` and applied by the worker;
this prints the command id at once. The result shows on the ``customers``
topic (``IdentityDetached``, ``CustomersMerged``, ``CustomerErased``), or, when the command cannot
apply, on the dead-letter topic with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from events.topics import IDENTITY_COMMANDS
from services.identity.commands import (
    Command,
    CommandRejected,
    Subject,
    command_record,
    detach_command,
    erase_command,
    merge_command,
)
from services.platform.settings import Settings
from services.privacy.wiring import open_protector

EXIT_REJECTED = 2
EXIT_BROKER_DOWN = 3


def add_identity_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The ``identity`` command; its actions are returned for the read side's (``export``)."""
    identity = sub.add_parser(
        "identity", help="unmerge an identifier, merge two customers, erase or export a customer"
    )
    actions = identity.add_subparsers(required=True, metavar="ACTION")
    detach = actions.add_parser(
        "detach", help="split a wrongly linked identifier into its own customer"
    )
    detach.add_argument("--tenant", required=True)
    detach.add_argument("--kind", required=True, help="email, phone, loyalty_id, customer_ref, ...")
    detach.add_argument("--value", required=True)
    detach.add_argument("--reason", required=True, help="kept in the customer's history")
    detach.set_defaults(handler=_detach)
    merge = actions.add_parser(
        "merge", help="merge two customers a person knows are one (undo: detach)"
    )
    merge.add_argument("--tenant", required=True)
    merge.add_argument("--survivor", required=True, help="the customer id that remains")
    merge.add_argument("--absorbed", required=True, help="the customer id merged into it")
    merge.add_argument("--reason", required=True, help="kept in the customer's merge history")
    merge.add_argument("--by", help="who decided (default: the login name)")
    merge.set_defaults(handler=_merge)
    erase = actions.add_parser("erase", help="forget a customer and its aliases")
    erase.add_argument("--tenant", required=True)
    erase.add_argument("--customer", help="the customer id (or give --kind and --value)")
    erase.add_argument("--kind")
    erase.add_argument("--value")
    erase.add_argument("--reason", required=True, help="kept in the customer's history")
    erase.set_defaults(handler=_erase)
    return actions


def _detach(args: argparse.Namespace, settings: Settings) -> int:
    try:
        command: Command = detach_command(args.tenant, args.kind, args.value, args.reason,
                                          settings.default_phone_region, _subject(settings))  # fmt: skip
    except CommandRejected as exc:
        print(f"identity: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    return _send(command, settings)


def _merge(args: argparse.Namespace, settings: Settings) -> int:
    by = args.by if args.by is not None else f"cli:{getpass.getuser()}"
    try:
        command: Command = merge_command(args.tenant, args.survivor, args.absorbed, args.reason, by)
    except CommandRejected as exc:
        print(f"identity: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    return _send(command, settings)


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    try:
        command: Command = erase_command(
            args.tenant,
            args.reason,
            args.customer,
            args.kind,
            args.value,
            settings.default_phone_region,
            _subject(settings),
        )
    except CommandRejected as exc:
        print(f"identity: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    return _send(command, settings)


def _subject(settings: Settings) -> Subject:
    """Identifiers named as ingest names them (a keyed hash): no value travels in clear."""
    protector = open_protector(settings)
    return protector.subject if protector is not None else (lambda tenant, kind, value: value)


def _send(command: Command, settings: Settings) -> int:
    try:
        asyncio.run(send_command(settings.kafka_bootstrap, command))
    except (KafkaError, OSError) as exc:
        print(
            f"identity: broker at {settings.kafka_bootstrap} unavailable: {exc!r}", file=sys.stderr
        )
        return EXIT_BROKER_DOWN
    print(command.command_id)
    return 0


async def send_command(bootstrap: str, command: Command) -> None:
    """Append ``command`` and wait for the broker's acknowledgement (acks=all)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=10_000
    )
    await producer.start()
    try:
        record = command_record(command)
        await producer.send_and_wait(IDENTITY_COMMANDS, record.value, key=record.key)
    finally:
        await producer.stop()
