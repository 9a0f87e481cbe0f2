"""``customers``: the identity store's customer events, each carrying the whole profile.

Identifier values (``data.value``, ``data.identities``, ``profile.identities``)
travel as logged: sealed when encryption is on, so only a reader with the
subject's key (the projector) reads them, and no one after an erasure.

The identity store's aggregate events are internal; what crosses the topic is
this contract, filled by an explicit mapping in the relay (``PUBLIC_FIELDS``
lists what each event type publishes). Renaming a field of a domain event
breaks that mapping, not the projection downstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import orjson

from events.keys import customer_key

#: what each customer event publishes in ``data``
PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "CustomerCreated": ("first_seen", "cause_event_id", "split_from"),
    "IdentityLinked": ("kind", "value", "cause_event_id"),
    "IdentityNoted": ("kind", "cause_event_id"),
    "EarlierActivitySeen": ("first_seen", "cause_event_id"),
    "CustomersMerged": (
        "absorbed_id",
        "identities",
        "first_seen",
        "reason",
        "cause_event_id",
        "kept_apart",
        "absorbed_aliases",
        "decided",
    ),
    "MergedIntoSurvivor": ("survivor_id", "reason", "cause_event_id", "decided"),
    "IdentityDetached": ("kind", "value", "moved_to", "reason"),
    "ConsentChanged": ("channel", "granted", "cause_event_id"),
    "CustomerErased": ("reason",),
}


#: fields added in v2 of the topic (``schemas/topics/customers/v2.json``): a record written
#: before may lack them and still reads (a missing ``decided``: the identity rules merged)
ADDED_FIELDS: dict[str, tuple[str, ...]] = {
    "CustomersMerged": ("decided",),
    "MergedIntoSurvivor": ("decided",),
}


class ContractError(ValueError):
    """A message does not have the fields its contract names."""


@dataclass(frozen=True)
class CustomerProfile:
    """The customer as the store knew it when the event was relayed (projections keep the newest)."""

    version: int
    first_seen: str
    identities: Mapping[str, list[str]]
    consent: Mapping[str, bool]
    merged_into: str | None
    aliases: tuple[str, ...]
    erased: bool


@dataclass(frozen=True)
class CustomerEvent:
    VERSION: ClassVar[int] = 1

    type: str
    tenant: str
    customer_id: str
    version: int  # the customer aggregate's version after this event
    recorded_at: str  # ISO 8601, when the store recorded it
    data: Mapping[str, Any]
    profile: CustomerProfile = field(repr=False)

    def __post_init__(self) -> None:
        wanted = PUBLIC_FIELDS.get(self.type)
        if wanted is None:
            raise ContractError(f"unknown customer event {self.type!r}")
        optional = set(ADDED_FIELDS.get(self.type, ()))
        if not set(wanted) - optional <= set(self.data) <= set(wanted):
            raise ContractError(f"{self.type} publishes {sorted(wanted)}, got {sorted(self.data)}")

    @property
    def key(self) -> bytes:
        return customer_key(self.tenant, self.customer_id).encode()

    def encode(self) -> bytes:
        profile = asdict(self.profile)
        profile["aliases"] = list(self.profile.aliases)
        return orjson.dumps(
            {
                "type": self.type,
                "tenant": self.tenant,
                "customer_id": self.customer_id,
                "version": self.version,
                "recorded_at": self.recorded_at,
                "data": dict(self.data),
                "profile": profile,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> CustomerEvent:
        body = orjson.loads(data)
        p = body["profile"]
        profile = CustomerProfile(
            int(p["version"]),
            p["first_seen"],
            p["identities"],
            p["consent"],
            p.get("merged_into"),
            tuple(p["aliases"]),
            bool(p["erased"]),
        )
        return cls(
            body["type"],
            body["tenant"],
            body["customer_id"],
            int(body["version"]),
            body["recorded_at"],
            body["data"],
            profile,
        )
