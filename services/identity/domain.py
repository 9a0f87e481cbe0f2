"""The customer and identity-claim aggregates.

A ``Customer`` is one person as the hub knows them; an ``IdentityClaim`` says
which customer owns one identifier (``tenant|kind:subject``). Both are
event-sourced: every link, merge, detach, consent change and erasure is an
event with its cause, so a profile can always be explained.

Identifiers are held as their *subjects* (keyed hashes under the tenant's
secret, made at ingest) beside the value as logged (``sealed``: encrypted
under the subject's own key, which an erasure deletes), so the store never
holds a readable identifier. Ids are derived (uuid5) from what caused them,
so that processing the same input again produces the same ids; with subjects
as their seeds, no one without the tenant's secret can derive them.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from eventsourcing.domain import Aggregate, event

from events.keys import identity_key

NAMESPACE = uuid.UUID("2f1c9a4e-6f43-4d7e-9c1e-7b3f0c5a8d21")


@lru_cache(maxsize=262_144)
def claim_id(tenant: str, kind: str, value: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "claim|" + identity_key(tenant, kind, value))


def customer_id_for(seed: str) -> uuid.UUID:
    """The id of a customer created because of ``seed`` (an identity key, or a detach)."""
    return uuid.uuid5(NAMESPACE, "customer|" + seed)


class Customer(Aggregate):
    """One person. An absorbed customer keeps existing as an alias of its survivor."""

    @staticmethod
    def create_id(tenant: str, seed: str, first_seen: str, cause_event_id: str) -> uuid.UUID:
        return customer_id_for(seed)

    @event("CustomerCreated")
    def __init__(
        self,
        tenant: str,
        seed: str,
        first_seen: str,
        cause_event_id: str,
        split_from: uuid.UUID | None = None,
    ) -> None:
        """``split_from``: the customer this one was detached from (they must not merge again)."""
        self.tenant = tenant
        self.first_seen = first_seen
        self.identities: dict[str, list[str]] = {}  # kind -> subjects
        self.sealed: dict[str, str] = {}  # subject -> its value as logged (sealed)
        self.noted: dict[str, list[str]] = {}  # kind -> subjects seen with it but not linked
        self.merged_into: uuid.UUID | None = None
        self.aliases: list[uuid.UUID] = []
        self.consent: dict[str, bool] = {}
        self.erased = False
        self.kept_apart: set[uuid.UUID] = {split_from} if split_from is not None else set()

    def count(self, kind: str) -> int:
        return len(self.identities.get(kind, []))

    def has(self, kind: str, value: str) -> bool:
        return value in self.identities.get(kind, [])

    def subjects(self) -> list[str]:
        """Every subject this customer's data was sealed under: what an erasure shreds."""
        found = [s for values in self.identities.values() for s in values]
        return found + [s for values in self.noted.values() for s in values if s not in found]

    @event("IdentityLinked")
    def link_identity(self, kind: str, value: str, cause_event_id: str, sealed: str = "") -> None:
        """``value``: the identifier's subject; ``sealed``: the value as logged."""
        self.identities.setdefault(kind, []).append(value)
        if sealed:
            self.sealed[value] = sealed

    @event("IdentityNoted")
    def note_identity(self, kind: str, value: str, cause_event_id: str) -> None:
        """Seen on this customer's events but not linked (a cap): still theirs to erase."""
        noted = self.noted.setdefault(kind, [])
        if value not in noted:
            noted.append(value)

    @event("EarlierActivitySeen")
    def saw_earlier_activity(self, first_seen: str, cause_event_id: str) -> None:
        self.first_seen = first_seen

    @event("CustomersMerged")
    def absorb(
        self,
        absorbed_id: uuid.UUID,
        identities: dict[str, list[str]],
        first_seen: str,
        reason: str,
        cause_event_id: str,
        kept_apart: tuple[uuid.UUID, ...] = (),
        absorbed_aliases: tuple[uuid.UUID, ...] = (),
        sealed: dict[str, str] | None = None,
        noted: dict[str, list[str]] | None = None,
        decided: dict[str, Any] | None = None,
    ) -> None:
        """``reason`` is the identity key that proved the two are one person, or for a merge a
        person decided (``decided``: ``MergeDecision.as_dict()``) what they said.

        The survivor inherits the absorbed customer's "keep apart" list, so an
        unmerge is not undone by a merge through a third customer, and its
        aliases, so ``aliases`` lists every id that now resolves here.
        """
        for kind, values in identities.items():
            mine = self.identities.setdefault(kind, [])
            mine.extend(v for v in values if v not in mine)
        self.sealed.update(sealed or {})
        for kind, values in (noted or {}).items():
            mine = self.noted.setdefault(kind, [])
            mine.extend(v for v in values if v not in mine)
        self.aliases.extend(a for a in (absorbed_id, *absorbed_aliases) if a not in self.aliases)
        self.kept_apart.update(kept_apart)
        if decided is not None:  # a person's word over an earlier unmerge of these two
            self.kept_apart.difference_update((absorbed_id, self.id))
        self.first_seen = min(self.first_seen, first_seen)

    @event("MergedIntoSurvivor")
    def merge_into(
        self,
        survivor_id: uuid.UUID,
        reason: str,
        cause_event_id: str,
        decided: dict[str, Any] | None = None,
    ) -> None:
        """``decided``: as in ``absorb`` (None: the identity rules merged them)."""
        self.merged_into = survivor_id

    @event("IdentityDetached")
    def detach_identity(self, kind: str, value: str, moved_to: uuid.UUID, reason: str) -> None:
        """An unmerge: the identifier was linked wrongly and now belongs to ``moved_to``."""
        self.identities[kind].remove(value)
        if not self.identities[kind]:
            del self.identities[kind]
        self.sealed.pop(value, None)
        self.kept_apart.add(moved_to)

    @event("ConsentChanged")
    def change_consent(self, channel: str, granted: bool, cause_event_id: str) -> None:
        self.consent[channel] = granted

    @event("CustomerErased")
    def erase(self, reason: str) -> None:
        self.identities, self.sealed, self.noted = {}, {}, {}
        self.consent = {}
        self.erased = True


@dataclass(frozen=True)
class MergeDecision:
    """Who decided a merge the identity rules did not make, when, and on what basis.

    ``basis``: ``manual`` (a person's reason) or ``suggestion`` (an accepted suggested
    duplicate: the matcher's ``rule`` and ``score``). Stored events written before it
    existed have none: their merges were the identity rules'.
    """

    basis: str
    requested_by: str
    requested_at: str
    rule: str = ""
    score: float | None = None
    suggestion_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class IdentityClaim(Aggregate):
    """Which customer an identifier belongs to now."""

    @staticmethod
    def create_id(tenant: str, kind: str, value: str, customer_id: uuid.UUID) -> uuid.UUID:
        return claim_id(tenant, kind, value)

    @event("IdentityClaimed")
    def __init__(self, tenant: str, kind: str, value: str, customer_id: uuid.UUID) -> None:
        self.customer_id: uuid.UUID | None = customer_id

    @event("IdentityReassigned")
    def reassign(self, customer_id: uuid.UUID, reason: str) -> None:
        self.customer_id = customer_id

    @event("IdentityReleased")
    def release(self, reason: str) -> None:
        """Its owner was erased: the identifier belongs to nobody until it is seen again."""
        self.customer_id = None


def describe(domain_event: Any) -> str:
    """The event's name as it appears on the ``customers`` topic."""
    return type(domain_event).__name__
