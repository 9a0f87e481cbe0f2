"""``identity.commands``: corrections to the identity graph, applied by the worker in order.

An unmerge (detach a wrongly linked identifier), a merge decided by a person
(by hand, or by accepting a suggested duplicate) or an erasure is appended
here rather than written to the store by a second writer, so it is ordered,
durable and applied once, like a touchpoint batch. The topic's schema is
``schemas/topics/identity.commands/v2.json`` (v1 without the merge).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import orjson

COMMAND_VERSION = 1


class CommandRejected(ValueError):
    """A command that cannot be applied as written (the message says why)."""


@dataclass(frozen=True)
class _Command:
    NAME: ClassVar[str]
    tenant: str
    command_id: str


@dataclass(frozen=True)
class DetachIdentity(_Command):
    """Split ``kind:value`` out of its customer into a new one, kept apart from it."""

    NAME: ClassVar[str] = "detach_identity"
    kind: str
    value: str
    reason: str


@dataclass(frozen=True)
class EraseCustomer(_Command):
    """Forget a customer (and its aliases): identities released, state cleared."""

    NAME: ClassVar[str] = "erase_customer"
    reason: str
    customer_id: str | None = None
    kind: str | None = None  # or find the customer by one of its identifiers
    value: str | None = None


@dataclass(frozen=True)
class MergeCustomers(_Command):
    """Merge ``absorbed_id`` into ``survivor_id``: one person, as someone decided.

    Who asked (``requested_by``), when (``requested_at``, ISO 8601) and why travel with it
    into the customer's merge history: ``reason`` as typed, and for an accepted suggestion
    the matcher's ``rule`` (its blocking rules and evidence codes) and ``score``. No
    identifier or name travels here (the log keeps commands in clear).
    """

    NAME: ClassVar[str] = "merge_customers"
    survivor_id: str
    absorbed_id: str
    reason: str
    requested_by: str
    requested_at: str
    rule: str | None = None
    score: float | None = None
    suggestion_id: str | None = None


Command = DetachIdentity | EraseCustomer | MergeCustomers
_COMMANDS: dict[str, type[Command]] = {
    c.NAME: c for c in (DetachIdentity, EraseCustomer, MergeCustomers)
}


def command_body(command: Command) -> dict[str, Any]:
    return {
        "command": command.NAME,
        "version": COMMAND_VERSION,
        **{k: v for k, v in asdict(command).items() if v is not None},
    }


def encode_command(command: Command) -> bytes:
    return orjson.dumps(command_body(command))


def decode_command(value: bytes) -> Command:
    """Raises ``CommandRejected`` for anything that is not a command this version knows."""
    try:
        body = orjson.loads(value)
        name = body.pop("command")
        body.pop("version", None)
        kind = _COMMANDS.get(name)
        if kind is not None:
            return kind(**body)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CommandRejected(f"unreadable identity command: {exc}") from None
    raise CommandRejected(f"unknown identity command {name!r}")
