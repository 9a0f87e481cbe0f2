"""The identity rules applied within one batch, to the aggregates it touches.

Strong identifiers (customer_ref, email, phone, loyalty_id) link and merge;
weak ones (device_id, social) attach, may fold an *anonymous* customer (one
known only by weak identifiers) into an identified one, and never merge two
identified customers. The survivor of a merge is the customer seen earliest
(event time), then the smallest id. Corrections (detach, erase) are applied
here too, and merges a person decided (``merge_customers``). Later sightings of a batch see earlier ones' changes, because every
aggregate is loaded once per batch and kept in ``loaded``.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from events.contracts.commands import Command, DetachIdentity, EraseCustomer, MergeCustomers
from events.keys import identity_key
from services.identity.decided import merge_decided
from services.identity.domain import Customer, IdentityClaim, claim_id, customer_id_for
from services.identity.outcomes import CommandOutcome, Resolution, Sighting
from services.identity.rules import STRONG_KINDS, WEAK_KINDS, IdentityRules


class BatchWork:
    """Aggregates touched in one batch: later sightings see earlier ones' changes."""

    def __init__(self, app: Any, rules: IdentityRules) -> None:
        """``app``: the resolver, whose repository the aggregates are loaded from."""
        self.app = app
        self.rules = rules
        self.loaded: dict[uuid.UUID, Aggregate] = {}
        self.missing: set[uuid.UUID] = set()

    def touched(self) -> list[Aggregate]:
        """The aggregates this batch changed (only these are saved).

        Handing eventsourcing every aggregate merely *read* cost a third of
        the stage's time: each goes through two runtime Protocol checks.
        """
        return [a for a in self.loaded.values() if a.pending_events]

    def get(self, aggregate_id: uuid.UUID) -> Any:
        if aggregate_id in self.loaded:
            return self.loaded[aggregate_id]
        if aggregate_id in self.missing:
            return None
        try:
            found: Aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            self.missing.add(aggregate_id)
            return None
        self.loaded[aggregate_id] = found
        return found

    def add(self, aggregate: Aggregate) -> None:
        self.missing.discard(aggregate.id)
        self.loaded[aggregate.id] = aggregate

    def owner(self, tenant: str, kind: str, value: str) -> Customer | None:
        claim: IdentityClaim | None = self.get(claim_id(tenant, kind, value))
        if claim is None or claim.customer_id is None:
            return None
        return self.survivor_of(self.get(claim.customer_id))

    def survivor_of(self, customer: Customer) -> Customer:
        while customer.merged_into is not None:
            customer = self.get(customer.merged_into)
        return customer

    # -- commands -----------------------------------------------------------

    def apply(self, command: Command) -> CommandOutcome:
        if isinstance(command, DetachIdentity):
            return self._detach(command)
        if isinstance(command, MergeCustomers):
            return merge_decided(self, command)
        return self._erase(command)

    def _detach(self, c: DetachIdentity) -> CommandOutcome:
        owner = self.owner(c.tenant, c.kind, c.value)
        if owner is None:
            return CommandOutcome(c.command_id, False, f"{c.kind}:{c.value} belongs to no customer")
        if sum(len(v) for v in owner.identities.values()) <= 1:
            return CommandOutcome(c.command_id, False, "the customer has no other identifier")
        split = Customer(
            tenant=c.tenant,
            seed=f"detach|{c.command_id}",
            first_seen=owner.first_seen,
            cause_event_id=c.command_id,
            split_from=owner.id,
        )
        self.add(split)
        sealed = owner.sealed.get(c.value, "")
        owner.detach_identity(c.kind, c.value, split.id, c.reason)
        split.link_identity(c.kind, c.value, c.command_id, sealed)
        claim: IdentityClaim = self.get(claim_id(c.tenant, c.kind, c.value))
        claim.reassign(split.id, f"detached: {c.reason}")
        return CommandOutcome(c.command_id, True, f"{c.kind} moved from {owner.id} to {split.id}")

    def _erase(self, c: EraseCustomer) -> CommandOutcome:
        if c.customer_id is not None:
            found: Customer | None = self.get(uuid.UUID(c.customer_id))
            customer = None if found is None else self.survivor_of(found)
        else:
            assert c.kind is not None and c.value is not None
            customer = self.owner(c.tenant, c.kind, c.value)
        if customer is None or customer.tenant != c.tenant:
            return CommandOutcome(c.command_id, False, "no such customer in this tenant")
        if customer.erased:
            return CommandOutcome(c.command_id, False, "already erased")
        everyone = [customer, *(self.get(a) for a in customer.aliases)]
        for person in everyone:
            for kind, values in person.identities.items():
                for value in values:
                    claim: IdentityClaim | None = self.get(claim_id(c.tenant, kind, value))
                    if claim is not None and claim.customer_id is not None:
                        claim.release(c.reason)
            if not person.erased:
                person.erase(c.reason)
        return CommandOutcome(
            c.command_id, True, f"erased {customer.id} and {len(everyone) - 1} aliases"
        )

    # -- the rules --------------------------------------------------------

    def resolve(self, s: Sighting) -> Resolution:
        flags: list[str] = []
        strong, weak = self._usable(s, flags)
        if not strong and not weak:
            return Resolution(s.event_id, None, (*flags, "only_junk_identifiers"))
        owners_strong = _unique(self.owner(s.tenant, k, v) for k, v in strong)
        owners_weak = _unique(self.owner(s.tenant, k, v) for k, v in weak)
        target = self._target(s, strong, weak, owners_strong, owners_weak, flags)
        for other in owners_weak:
            if other is not target and not _identified(other):
                self._merge(target, other, s, f"{weak[0][0]}:{weak[0][1]}")
            elif other is not target:
                flags.append("weak_identifier_of_another_customer")
        self._link_all(target, s, strong, weak, flags)
        if s.occurred_at < target.first_seen:
            target.saw_earlier_activity(s.occurred_at, s.event_id)
        if s.type == "email.unsubscribed" and target.consent.get("email", True):
            target.change_consent("email", False, s.event_id)
        return Resolution(s.event_id, str(target.id), tuple(flags))

    def _usable(
        self, s: Sighting, flags: list[str]
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        strong, weak = [], []
        for kind, value in s.identities.items():
            if kind in s.junk:
                flags.append(f"junk_identifier:{kind}")
            elif self.rules.is_strong(kind):
                strong.append((kind, value))
            else:
                weak.append((kind, value))
        for kind, value, _ in s.linked:  # a profile's listed emails and phones: the master's word
            if (kind, value) not in strong and (kind, value) not in weak:
                (strong if self.rules.is_strong(kind) else weak).append((kind, value))
        strong.sort(key=lambda kv: STRONG_KINDS.index(kv[0]))
        weak.sort(key=lambda kv: WEAK_KINDS.index(kv[0]) if kv[0] in WEAK_KINDS else 99)
        return strong, weak

    def _target(
        self,
        s: Sighting,
        strong: list[tuple[str, str]],
        weak: list[tuple[str, str]],
        owners_strong: list[Customer],
        owners_weak: list[Customer],
        flags: list[str],
    ) -> Customer:
        if len(owners_strong) > 1:
            return self._merge_all(owners_strong, s, strong, flags)
        if owners_strong:
            return owners_strong[0]
        if strong:
            return self._create(s, strong[0])
        identified = [c for c in owners_weak if _identified(c)]
        if len(identified) > 1:
            flags.append("weak_identifiers_of_several_customers")
        if identified:
            return identified[0]
        return _oldest(owners_weak) if owners_weak else self._create(s, weak[0])

    def _create(self, s: Sighting, seed: tuple[str, str]) -> Customer:
        key, generation = identity_key(s.tenant, *seed), 1
        while self.get(customer_id_for(key if generation == 1 else f"{key}#{generation}")):
            generation += 1  # an erased customer had this seed: the returning person is new
        customer = Customer(
            tenant=s.tenant,
            seed=key if generation == 1 else f"{key}#{generation}",
            first_seen=s.occurred_at,
            cause_event_id=s.event_id,
        )
        self.add(customer)
        return customer

    def _merge_all(
        self, owners: list[Customer], s: Sighting, strong: list[tuple[str, str]], flags: list[str]
    ) -> Customer:
        survivor = _oldest(owners)
        for other in sorted(owners, key=_age):
            if other is survivor:
                continue
            if self.would_exceed_cap(survivor, other):
                flags.append("merge_blocked_by_identity_cap")
                continue
            if other.id in survivor.kept_apart or survivor.id in other.kept_apart:
                flags.append("merge_blocked_by_unmerge")
                continue
            reason = next(f"{k}:{v}" for k, v in strong if other.has(k, v) or survivor.has(k, v))
            self._merge(survivor, other, s, reason)
        return survivor

    def _merge(self, survivor: Customer, absorbed: Customer, s: Sighting, reason: str) -> None:
        self.absorb(survivor, absorbed, s.event_id, reason)

    def absorb(
        self,
        survivor: Customer,
        absorbed: Customer,
        cause: str,
        reason: str,
        decided: dict[str, Any] | None = None,
    ) -> None:
        survivor.absorb(
            absorbed.id,
            {k: list(v) for k, v in absorbed.identities.items()},
            absorbed.first_seen,
            reason,
            cause,
            tuple(sorted(absorbed.kept_apart, key=str)),
            tuple(absorbed.aliases),
            dict(absorbed.sealed),
            {k: list(v) for k, v in absorbed.noted.items()},
            decided,
        )
        absorbed.merge_into(survivor.id, reason, cause, decided)

    def would_exceed_cap(self, a: Customer, b: Customer) -> bool:
        kinds = set(a.identities) | set(b.identities)
        return any(
            len(set(a.identities.get(k, [])) | set(b.identities.get(k, [])))
            > self.rules.max_per_kind
            for k in kinds
            if self.rules.is_strong(k)
        )

    def _link_all(
        self,
        target: Customer,
        s: Sighting,
        strong: list[tuple[str, str]],
        weak: list[tuple[str, str]],
        flags: list[str],
    ) -> None:
        for kind, value in [*strong, *weak]:
            claim: IdentityClaim | None = self.get(claim_id(s.tenant, kind, value))
            if claim is not None and claim.customer_id is not None:
                continue  # owned already (by the target, or by someone it must not merge with)
            if self.rules.is_strong(kind) and target.count(kind) >= self.rules.max_per_kind:
                flags.append(f"identity_cap_reached:{kind}")
                if value not in target.noted.get(kind, ()):  # its data is sealed under it
                    target.note_identity(kind, value, s.event_id)
                continue
            target.link_identity(kind, value, s.event_id, s.sealed_of(kind, value))
            if claim is None:
                self.add(
                    IdentityClaim(tenant=s.tenant, kind=kind, value=value, customer_id=target.id)
                )
            else:  # released by an erasure, seen again
                claim.reassign(target.id, "seen again after erasure")


def _identified(customer: Customer) -> bool:
    return any(customer.identities.get(kind) for kind in STRONG_KINDS)


def _age(customer: Customer) -> tuple[str, str]:
    return (customer.first_seen, str(customer.id))


def _oldest(customers: list[Customer]) -> Customer:
    return min(customers, key=_age)


def _unique(found: Any) -> list[Customer]:
    out: list[Customer] = []
    for customer in found:
        if customer is not None and all(customer is not c for c in out):
            out.append(customer)
    return out
