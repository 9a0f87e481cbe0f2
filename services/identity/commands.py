"""Corrections to the identity graph, sent as commands through Kafka.

An unmerge (detach a wrongly linked identifier) or an erasure changes
aggregates that the identity agent is writing. Rather than a second writer
to the store, the correction is appended to ``identity.commands`` and applied
by the same worker, in one store transaction with its position, exactly like
a touchpoint batch. The commands are therefore ordered, durable, replayable
and applied once, and their effects reach ``customers`` and
``touchpoints.resolved`` through the same relay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from events.identities import PRIMARY_ORDER, normalize_identities
from services.kafka.records import Record

COMMAND_VERSION = 1


class CommandRejected(ValueError):
    """A command that cannot be applied as written (the message says why)."""


@dataclass(frozen=True)
class DetachIdentity:
    """Split ``kind:value`` out of its customer into a new one, kept apart from it."""

    tenant: str
    command_id: str
    kind: str
    value: str
    reason: str


@dataclass(frozen=True)
class EraseCustomer:
    """Forget a customer (and its aliases): identities released, state cleared."""

    tenant: str
    command_id: str
    reason: str
    customer_id: str | None = None
    kind: str | None = None  # or find the customer by one of its identifiers
    value: str | None = None


Command = DetachIdentity | EraseCustomer


def detach_command(
    tenant: str, kind: str, value: str, reason: str, region: str = "US"
) -> DetachIdentity:
    """``region``: the default phone region, as ingest normalizes numbers."""
    kind, value = _normalized(kind, value, region)
    return DetachIdentity(tenant, str(uuid.uuid4()), kind, value, _reason(reason))


def erase_command(
    tenant: str,
    reason: str,
    customer_id: str | None = None,
    kind: str | None = None,
    value: str | None = None,
    region: str = "US",
) -> EraseCustomer:
    if (customer_id is None) == (kind is None or value is None):
        raise CommandRejected("name the customer by id, or by one identifier (kind and value)")
    if customer_id is not None:
        try:
            customer_id = str(uuid.UUID(customer_id))
        except ValueError:
            raise CommandRejected(f"customer id {customer_id!r} is not a UUID") from None
    else:
        assert kind is not None and value is not None
        kind, value = _normalized(kind, value, region)
    return EraseCustomer(tenant, str(uuid.uuid4()), _reason(reason), customer_id, kind, value)


def encode_command(command: Command) -> Record:
    body: dict[str, Any] = {
        "command": "detach_identity" if isinstance(command, DetachIdentity) else "erase_customer",
        "version": COMMAND_VERSION,
        **{k: v for k, v in command.__dict__.items() if v is not None},
    }
    return Record(command.tenant.encode(), orjson.dumps(body))


def decode_command(value: bytes) -> Command:
    """Raises ``CommandRejected`` for anything that is not a command this version knows."""
    try:
        body = orjson.loads(value)
        name = body.pop("command")
        body.pop("version", None)
        if name == "detach_identity":
            return DetachIdentity(**body)
        if name == "erase_customer":
            return EraseCustomer(**body)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise CommandRejected(f"unreadable identity command: {exc}") from None
    raise CommandRejected(f"unknown identity command {name!r}")


def _normalized(kind: str, value: str, region: str) -> tuple[str, str]:
    if kind not in PRIMARY_ORDER:
        raise CommandRejected(f"unknown identity kind {kind!r} (one of {', '.join(PRIMARY_ORDER)})")
    normalized, problems = normalize_identities({kind: value}, region)
    if problems:
        raise CommandRejected(f"{kind} {value!r}: {problems[0].message}")
    return kind, normalized[kind]


def _reason(reason: str) -> str:
    if not reason.strip():
        raise CommandRejected("say why (--reason): the reason is kept in the customer's history")
    return reason.strip()
