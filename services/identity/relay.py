"""Publishing the identity store's events to the ``customers`` topic (a transactional outbox).

The resolver stores customer events in its database; this relay reads the
notification log from the last relayed position, publishes, waits for the
acknowledgement, then records the new position (tracking ``customers-relay``).
A crash in between republishes a few events: consumers deduplicate by
(customer_id, version). A merge is also announced on ``touchpoints.resolved``,
keyed by the absorbed customer, so per-customer state can follow it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from events.identities import identity_digest
from services.identity.domain import Customer
from services.identity.resolver import IdentityResolver
from services.kafka.records import Record
from services.kafka.topics import CUSTOMERS, DEADLETTER, RESOLVED
from services.streams.output import OutputWriter

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
            await self.out.write_all([(RESOLVED, [*resolved, *controls]),
                                      (DEADLETTER, dead), (CUSTOMERS, customers)])  # fmt: skip
            resolved, dead = [], []
            if not notifications:
                return sent
            recorder.insert_events([], tracking=Tracking(POSITION, notifications[-1].id))
            sent += len(customers)

    def _records(self, notifications: Any) -> tuple[list[Record], list[Record]]:
        customers: list[Record] = []
        controls: list[Record] = []
        for notification in notifications:
            if not notification.topic.split(":")[-1].startswith("Customer."):
                continue  # identity claims are internal
            event: Any = self.resolver.mapper.to_domain_event(notification)
            owner: Customer = self.resolver.repository.get(event.originator_id)
            body = _customer_event(event, owner.tenant)
            body["profile"] = profile_of(owner)
            key = f"{owner.tenant}|{event.originator_id}".encode()
            customers.append(Record(key, orjson.dumps(body), (("type", body["type"].encode()),)))
            control = _control(body["type"], event, owner)
            if control is not None:
                controls.append(Record(key, orjson.dumps(control)))
        return customers, controls


def profile_of(customer: Customer) -> dict[str, Any]:
    """The customer as the store knows it when relayed: projections keep the highest version.

    Carrying the whole profile makes the ``customers`` projection a plain
    upsert by version, and a replay of the topic gives the same final rows.
    """
    return {
        "version": customer.version,
        "first_seen": customer.first_seen,
        "identities": customer.identities,
        "consent": customer.consent,
        "merged_into": None if customer.merged_into is None else str(customer.merged_into),
        "aliases": [str(a) for a in customer.aliases],
        "erased": customer.erased,
    }


def _control(kind: str, event: Any, owner: Customer) -> dict[str, Any] | None:
    """What per-customer state downstream must do about a customer event, if anything."""
    head = {"tenant": owner.tenant, "customer_id": str(event.originator_id)}
    if kind == "MergedIntoSurvivor":
        return {"control": "merged_into", **head, "survivor_id": str(event.survivor_id)}
    if kind == "IdentityDetached":
        remaining = [
            identity_digest(k, v) for k, values in owner.identities.items() for v in values
        ]
        return {"control": "detached", **head, "identity": identity_digest(event.kind, event.value),
                "moved_to": str(event.moved_to), "remaining": sorted(remaining)}  # fmt: skip
    if kind == "CustomerErased":
        return {"control": "erased", **head}
    return None


def _customer_event(event: Any, tenant: str) -> dict[str, Any]:
    data = {k: _plain(v) for k, v in event.__dict__.items()
            if k not in ("originator_id", "originator_version", "timestamp")}  # fmt: skip
    return {
        "type": type(event).__name__,
        "tenant": tenant,
        "customer_id": str(event.originator_id),
        "version": event.originator_version,
        "recorded_at": event.timestamp.isoformat(),
        "data": data,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
