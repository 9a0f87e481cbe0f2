"""``touchpoints.resolved``: each touchpoint with its customer, and the controls that move state.

A resolved touchpoint is the envelope as logged (at its type's latest
version) plus whom it was resolved to. A control record instructs the
per-customer state downstream: a customer merged into another, an identifier
detached, a customer erased, or facts to absorb. Controls ride in the same
partition as the touchpoints resolved before them, so state sees them in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import orjson

from events.keys import customer_key


@dataclass(frozen=True)
class ResolvedTouchpoint:
    """``sighting``: where in ``touchpoints`` it came from (partition, offset).

    An event sent twice, or repeated after a crash, is resolved again, maybe
    to another customer; the projection keeps the earliest sighting.
    """

    VERSION: ClassVar[int] = 1

    envelope: Mapping[str, Any]
    customer_id: str
    identity_flags: tuple[str, ...]
    sighting: tuple[int, int] | None  # None: resolved before sightings were recorded

    @property
    def tenant(self) -> str:
        return str(self.envelope["tenant"])

    @property
    def key(self) -> bytes:
        return customer_key(self.tenant, self.customer_id).encode()

    def to(self, customer_id: str) -> ResolvedTouchpoint:
        """The same touchpoint, now under another customer (it follows a merge or a detach)."""
        return replace(self, customer_id=customer_id)

    def encode(self) -> bytes:
        body = {
            **self.envelope,
            "customer_id": self.customer_id,
            "identity_flags": list(self.identity_flags),
        }
        if self.sighting is not None:
            body["sighting"] = list(self.sighting)
        return orjson.dumps(body)


@dataclass(frozen=True)
class _ToCustomer:
    """A control addressed to one customer's state (its key: ``tenant|customer_id``)."""

    CONTROL: ClassVar[str]
    tenant: str
    customer_id: str


@dataclass(frozen=True)
class MergedInto(_ToCustomer):
    """``customer_id`` was merged into ``survivor_id``: its state moves there."""

    CONTROL: ClassVar[str] = "merged_into"
    survivor_id: str


@dataclass(frozen=True)
class Detached(_ToCustomer):
    """An identifier (its digest) left ``customer_id`` for ``moved_to``; ``remaining``: what stays."""

    CONTROL: ClassVar[str] = "detached"
    identity: str
    moved_to: str
    remaining: tuple[str, ...]


@dataclass(frozen=True)
class Erased(_ToCustomer):
    CONTROL: ClassVar[str] = "erased"


@dataclass(frozen=True)
class Absorb(_ToCustomer):
    """Facts moving to ``customer_id`` from a merged or split customer (event id -> fact row)."""

    CONTROL: ClassVar[str] = "absorb"
    facts: Mapping[str, Sequence[Any]]


Control = MergedInto | Detached | Erased | Absorb
_CONTROLS: dict[str, type[Control]] = {c.CONTROL: c for c in (MergedInto, Detached, Erased, Absorb)}


def control_key(control: Control) -> bytes:
    return customer_key(control.tenant, control.customer_id).encode()


def encode_control(control: Control) -> bytes:
    body: dict[str, Any] = {"control": control.CONTROL}
    for item in fields(control):
        value = getattr(control, item.name)
        body[item.name] = list(value) if isinstance(value, tuple) else value
    return orjson.dumps(body)


def decode_resolved(data: bytes) -> ResolvedTouchpoint | Control:
    """Raises ``ValueError`` (or ``KeyError``/``TypeError``) for what is not one of these."""
    body = orjson.loads(data)
    if not isinstance(body, dict):
        raise ValueError("a resolved record must be a JSON object")
    control = body.pop("control", None)
    if control is not None:
        kind = _CONTROLS.get(control)
        if kind is None:
            raise ValueError(f"unknown control {control!r}")
        if kind is Detached:
            body["remaining"] = tuple(body["remaining"])
        return kind(**body)
    customer_id = body.pop("customer_id")
    flags = tuple(body.pop("identity_flags", ()) or ())
    sighting = body.pop("sighting", None)
    where = (int(sighting[0]), int(sighting[1])) if sighting else None
    return ResolvedTouchpoint(body, str(customer_id), flags, where)
