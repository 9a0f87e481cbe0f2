"""Publishing the identity store's events to the ``customers`` topic (a transactional outbox).

The resolver stores customer events in its database; this relay reads the
notification log from the last relayed position, publishes, waits for the
acknowledgement, then records the new position (tracking ``customers-relay``).
A crash in between republishes a few events: consumers deduplicate by
(customer_id, version). Worker processes sharing one identity store each run a
relay; when two publish the same page, the second to record the position
finds it taken and moves on. A merge is also announced on ``touchpoints.resolved``,
keyed by the absorbed customer, so per-customer state can follow it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from events.contracts.customers import CustomerEvent, CustomerProfile
from events.contracts.resolved import (
    Control,
    Detached,
    Erased,
    MergedInto,
    control_key,
    encode_control,
)
from events.identities import identity_digest
from events.records import Record
from events.topics import CUSTOMERS, DEADLETTER, RESOLVED
from services.identity.domain import Customer
from services.identity.resolver import IdentityResolver
from services.kafka.output import OutputWriter

POSITION = "customers-relay"


class CustomerEventRelay:
    def __init__(self, resolver: IdentityResolver, out: OutputWriter, page: int = 2000) -> None:
        self.resolver = resolver
        self.out = out
        self.page = page
        self._one_at_a_time = asyncio.Lock()  # two agents relay; each page must go out once

    async def relay(self, resolved: Sequence[Record] = (), dead: Sequence[Record] = ()) -> int:
        """Publish everything not yet relayed; return how many customer events went out.

        ``resolved`` and ``dead`` (a batch's outputs) go out in the same write
        as the first page, ahead of it: one broker round trip instead of
        three. A merge's control record follows the touchpoints resolved
        before it on the same partition, as the engagement stage needs.
        """
        async with self._one_at_a_time:
            return await self._relay(list(resolved), list(dead))

    async def _relay(self, resolved: list[Record], dead: list[Record]) -> int:
        recorder = self.resolver.recorder
        sent = 0
        while True:
            start = (recorder.max_tracking_id(POSITION) or 0) + 1
            notifications = recorder.select_notifications(start, self.page)
            customers, controls = self._records(notifications)
            await self.out.write_all(
                [(RESOLVED, [*resolved, *controls]), (DEADLETTER, dead), (CUSTOMERS, customers)]
            )
            resolved, dead = [], []
            if not notifications:
                return sent
            sent += len(customers)
            try:
                recorder.insert_events([], tracking=Tracking(POSITION, notifications[-1].id))
            except IntegrityError:
                # another worker process (same identity store) relayed this page first: the
                # page went out twice, which consumers absorb (customer_id, version), but the
                # batch's own records went out once and must not be retried with it
                continue

    def _records(self, notifications: Any) -> tuple[list[Record], list[Record]]:
        customers: list[Record] = []
        controls: list[Record] = []
        for notification in notifications:
            if not notification.topic.split(":")[-1].startswith("Customer."):
                continue  # identity claims are internal
            event: Any = self.resolver.mapper.to_domain_event(notification)
            owner: Customer = self.resolver.repository.get(event.originator_id)
            message = customer_event(event, owner)
            customers.append(
                Record(message.key, message.encode(), (("type", message.type.encode()),))
            )
            control = _control(message.type, event, owner)
            if control is not None:
                controls.append(Record(control_key(control), encode_control(control)))
        return customers, controls


def customer_event(event: Any, owner: Customer) -> CustomerEvent:
    """The public form of a customer aggregate event: its contract, filled field by field."""
    kind = type(event).__name__
    publish = _PUBLIC[kind]
    return CustomerEvent(
        kind,
        owner.tenant,
        str(event.originator_id),
        event.originator_version,
        event.timestamp.isoformat(),
        publish(event),
        profile_of(owner),
    )


def profile_of(customer: Customer) -> CustomerProfile:
    """The customer as the store knows it when relayed: projections keep the highest version.

    Carrying the whole profile makes the ``customers`` projection a plain
    upsert by version, and a replay of the topic gives the same final rows.
    """
    return CustomerProfile(
        version=customer.version,
        first_seen=customer.first_seen,
        identities={
            kind: [customer.sealed.get(subject, subject) for subject in subjects]
            for kind, subjects in customer.identities.items()
        },
        consent=dict(customer.consent),
        merged_into=None if customer.merged_into is None else str(customer.merged_into),
        aliases=tuple(str(a) for a in customer.aliases),
        erased=customer.erased,
    )


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


#: each domain event's public fields (``events.contracts.customers.PUBLIC_FIELDS``), by hand:
#: a renamed attribute of the aggregate breaks here, not silently in the projection
_PUBLIC: dict[str, Callable[[Any], dict[str, Any]]] = {
    "CustomerCreated": lambda e: {
        "first_seen": e.first_seen,
        "cause_event_id": e.cause_event_id,
        "split_from": _id(e.split_from),
    },
    "IdentityLinked": lambda e: {
        "kind": e.kind,
        "value": e.sealed or e.value,  # as logged: sealed when encryption is on
        "cause_event_id": e.cause_event_id,
    },
    "IdentityNoted": lambda e: {"kind": e.kind, "cause_event_id": e.cause_event_id},
    "EarlierActivitySeen": lambda e: {
        "first_seen": e.first_seen,
        "cause_event_id": e.cause_event_id,
    },
    "CustomersMerged": lambda e: {
        "absorbed_id": str(e.absorbed_id),
        "identities": {
            k: [(e.sealed or {}).get(v, v) for v in values] for k, values in e.identities.items()
        },
        "first_seen": e.first_seen,
        "reason": e.reason,
        "cause_event_id": e.cause_event_id,
        "kept_apart": [str(c) for c in e.kept_apart],
        "absorbed_aliases": [str(a) for a in e.absorbed_aliases],
        "decided": getattr(e, "decided", None),  # stored before decided merges existed: None
    },
    "MergedIntoSurvivor": lambda e: {
        "survivor_id": str(e.survivor_id),
        "reason": e.reason,
        "cause_event_id": e.cause_event_id,
        "decided": getattr(e, "decided", None),
    },
    "IdentityDetached": lambda e: {
        "kind": e.kind,
        "value": e.value,
        "moved_to": str(e.moved_to),
        "reason": e.reason,
    },
    "ConsentChanged": lambda e: {
        "channel": e.channel,
        "granted": e.granted,
        "cause_event_id": e.cause_event_id,
    },
    "CustomerErased": lambda e: {"reason": e.reason},
}


def _control(kind: str, event: Any, owner: Customer) -> Control | None:
    """What per-customer state downstream must do about a customer event, if anything."""
    tenant, customer = owner.tenant, str(event.originator_id)
    if kind == "MergedIntoSurvivor":
        return MergedInto(tenant, customer, str(event.survivor_id))
    if kind == "IdentityDetached":
        remaining = sorted(
            identity_digest(k, v) for k, values in owner.identities.items() for v in values
        )
        return Detached(
            tenant,
            customer,
            identity_digest(event.kind, event.value),
            str(event.moved_to),
            tuple(remaining),
        )
    if kind == "CustomerErased":
        return Erased(tenant, customer)
    return None
