"""Making identity commands from what an operator typed: normalized, checked, with a reason.

The commands themselves (their fields and wire form) are the contract in
``events.contracts.commands``; the worker applies them (``resolver.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from events.contracts.commands import (
    Command,
    CommandRejected,
    DetachIdentity,
    EraseCustomer,
    MergeCustomers,
    decode_command,
    encode_command,
)
from events.identities import PRIMARY_ORDER, normalize_identities
from events.records import Record

__all__ = [
    "Command",
    "CommandRejected",
    "DetachIdentity",
    "EraseCustomer",
    "MergeCustomers",
    "Subject",
    "command_record",
    "decode_command",
    "detach_command",
    "erase_command",
    "merge_command",
]


Subject = Callable[[str, str, str], str]  # (tenant, kind, value) -> the identifier's keyed hash


def _as_is(tenant: str, kind: str, value: str) -> str:
    return value


def detach_command(
    tenant: str, kind: str, value: str, reason: str, region: str = "US", subject: Subject = _as_is
) -> DetachIdentity:
    """``region``: the default phone region, as ingest normalizes numbers; ``subject``: how
    ingest names identifiers (``EnvelopeProtector.subject``: the command never carries the
    value in clear), as is when encryption is off."""
    kind, value = normalized_identifier(kind, value, region)
    return DetachIdentity(tenant, str(uuid.uuid4()), kind, subject(tenant, kind, value),
                          _reason(reason))  # fmt: skip


def erase_command(
    tenant: str,
    reason: str,
    customer_id: str | None = None,
    kind: str | None = None,
    value: str | None = None,
    region: str = "US",
    subject: Subject = _as_is,
) -> EraseCustomer:
    if (customer_id is None) == (kind is None or value is None):
        raise CommandRejected("name the customer by id, or by one identifier (kind and value)")
    if customer_id is not None:
        customer_id = _customer_id(customer_id)
    else:
        assert kind is not None and value is not None
        kind, value = normalized_identifier(kind, value, region)
        value = subject(tenant, kind, value)
    return EraseCustomer(tenant, str(uuid.uuid4()), _reason(reason), customer_id, kind, value)


def merge_command(
    tenant: str,
    survivor_id: str,
    absorbed_id: str,
    reason: str,
    requested_by: str,
    rule: str | None = None,
    score: float | None = None,
    suggestion_id: str | None = None,
) -> MergeCustomers:
    """A merge a person decided; ``rule`` and ``score``: the accepted suggestion's, if it was one."""
    survivor, absorbed = _customer_id(survivor_id), _customer_id(absorbed_id)
    if survivor == absorbed:
        raise CommandRejected(f"customer {survivor} cannot be merged with itself")
    if not requested_by.strip():
        raise CommandRejected("say who asked for the merge (--by): it is kept in the history")
    if score is not None and not 0.0 <= score <= 1.0:
        raise CommandRejected(f"a suggestion's score is between 0 and 1, not {score}")
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return MergeCustomers(tenant, str(uuid.uuid4()), survivor, absorbed, _reason(reason),
                          requested_by.strip(), at, rule, score, suggestion_id)  # fmt: skip


def _customer_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandRejected(f"customer id {value!r} is not a UUID") from None


def command_record(command: Command) -> Record:
    """The command as appended to ``identity.commands`` (keyed by tenant: one tenant's in order)."""
    return Record(command.tenant.encode(), encode_command(command))


def normalized_identifier(kind: str, value: str, region: str) -> tuple[str, str]:
    """``(kind, value)`` as ingest normalizes them, or ``CommandRejected`` saying why not."""
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
