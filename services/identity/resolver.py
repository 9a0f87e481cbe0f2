"""Resolving touchpoints to customers, one partition batch per transaction.

``IdentityResolver`` is an eventsourcing ``EventSourcedProjection``: each batch
of touchpoints from one Kafka partition is processed as one "domain event",
and the aggregate events it causes are stored together with the position
(``touchpoints-<partition>``, last offset) in one transaction. A batch whose
position is already stored is never applied again, so a worker killed at any
point neither loses nor repeats a link or merge.

Rules (see ``rules.py``): strong identifiers link and merge; weak ones attach,
may fold an *anonymous* customer (one known only by weak identifiers) into an
identified one, and never merge two identified customers. The survivor of a
merge is the customer seen earliest (event time), then the smallest id.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ProcessRecorder, Tracking
from eventsourcing.popo import POPOFactory
from eventsourcing.projection import EventSourcedProjection

from services.identity.commands import Command, DetachIdentity, EraseCustomer
from services.identity.domain import (
    Customer,
    IdentityClaim,
    claim_id,
    customer_id_for,
    identity_key,
)
from services.identity.recorders import MultiTracking, POPOMultiTrackingRecorder
from services.identity.rules import STRONG_KINDS, WEAK_KINDS, IdentityRules


class Sighting(NamedTuple):
    """What identity resolution needs of a touchpoint."""

    tenant: str
    event_id: str
    occurred_at: str
    type: str
    identities: Mapping[str, str]


class Resolution(NamedTuple):
    event_id: str
    customer_id: str | None  # None: only junk identifiers, nothing to resolve to
    flags: tuple[str, ...]


@dataclass
class SightingBatch:
    """Touchpoints processed as a unit: one transaction, one position per partition."""

    sightings: list[Sighting]
    more_tracking: list[Tracking] = field(default_factory=list)  # partitions after the first
    resolutions: list[Resolution] = field(default_factory=list)


class CommandOutcome(NamedTuple):
    command_id: str
    applied: bool
    detail: str  # what changed, or why nothing did


@dataclass
class CommandBatch:
    """Identity commands from one partition of ``identity.commands`` (one tracking record)."""

    commands: list[Command]
    outcomes: list[CommandOutcome] = field(default_factory=list)


class IdentityResolver(EventSourcedProjection[uuid.UUID]):
    name = "identity"

    def __init__(
        self, env: Mapping[str, str] | None = None, rules: IdentityRules | None = None
    ) -> None:
        super().__init__(env)
        if not isinstance(self.recorder, MultiTracking):  # it would drop positions silently
            raise TypeError(f"{type(self.recorder).__name__} cannot store several positions; "
                            "open the store with services.identity.store.eventsourcing_env")  # fmt: skip
        self.rules = rules or IdentityRules()

    def construct_recorder(self) -> ProcessRecorder:
        if isinstance(self.factory, POPOFactory):  # in memory (tests): no recorder topic there
            return POPOMultiTrackingRecorder()
        return super().construct_recorder()

    # -- the entry point -------------------------------------------------

    def resolve_batch(self, stream: str, items: Sequence[tuple[int, Sighting]]) -> list[Resolution]:
        """Resolve ``(offset, sighting)`` pairs from one partition ``stream`` (e.g. ``touchpoints-3``)."""
        return self.resolve_streams([(stream, items)])[0]

    def resolve_streams(
        self, streams: Sequence[tuple[str, Sequence[tuple[int, Sighting]]]]
    ) -> list[list[Resolution]]:
        """Resolve several partitions' ``(offset, sighting)`` pairs in one transaction.

        Every partition with something new gets its position (its last offset)
        in that transaction; partitions are applied in the order given.
        Already-applied offsets are answered read-only (their resolution is
        recomputed from the current state, for re-emitting output).
        """
        plans: list[tuple[Sequence[tuple[int, Sighting]], list[int], dict[int, Resolution]]] = []
        fresh_sightings: list[Sighting] = []
        positions: list[Tracking] = []
        for stream, items in streams:
            done = self.recorder.max_tracking_id(stream)
            # By offset, not event id: two tenants may send the same event id, and both
            # can sit in one partition's batch (a run resolved one tenant's event to the
            # other tenant's customer that way).
            answers: dict[int, Resolution] = {}
            fresh: list[int] = []
            for offset, s in items:
                if done is not None and offset <= done:
                    answers[offset] = self.lookup(s)
                else:
                    fresh.append(offset)
                    fresh_sightings.append(s)
            if fresh:
                positions.append(Tracking(stream, max(offset for offset, _ in items)))
            plans.append((items, fresh, answers))
        if positions:
            batch = SightingBatch(fresh_sightings, more_tracking=positions[1:])
            self._process(batch, positions[0])
            found = iter(batch.resolutions)
            for _, fresh, answers in plans:
                answers.update((offset, next(found)) for offset in fresh)
        return [[answers[offset] for offset, _ in items] for items, _, answers in plans]

    def apply_commands(
        self, stream: str, items: Sequence[tuple[int, Command]]
    ) -> list[CommandOutcome]:
        """Apply ``(offset, command)`` pairs from one partition; already-applied offsets are skipped."""
        done = self.recorder.max_tracking_id(stream)
        fresh = [c for offset, c in items if done is None or offset > done]
        if not fresh:
            return [CommandOutcome(c.command_id, False, "already applied") for _, c in items]
        batch = CommandBatch(fresh)
        self._process(batch, Tracking(stream, max(offset for offset, _ in items)))
        return batch.outcomes

    def _process(self, batch: SightingBatch | CommandBatch, tracking: Tracking) -> None:
        """Apply a batch in one transaction; if it fails, forget what it changed in memory.

        The aggregate cache hands out its own objects (no deep copy, for speed),
        so the working set *is* the cache. A batch whose transaction fails (a
        lost database connection, a full disk) has changed those objects
        without storing the change; the retry must start from the stored state.
        """
        self._working: _Working | None = None
        try:
            self.process_event(batch, tracking)  # type: ignore[arg-type]
        except BaseException:
            cache, work = self.repository.cache, self._working
            if cache is not None and work is not None:
                for aggregate_id in work.loaded:
                    with contextlib.suppress(KeyError):  # created in this batch: never cached
                        cache.get(aggregate_id, evict=True)
            raise

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        work = self._working = _Working(self)
        if isinstance(domain_event, CommandBatch):
            domain_event.outcomes = [work.apply(c) for c in domain_event.commands]
        else:
            assert isinstance(domain_event, SightingBatch)
            domain_event.resolutions = [work.resolve(s) for s in domain_event.sightings]
            if domain_event.more_tracking:
                processing_event.collect_events(more_tracking=domain_event.more_tracking)
        processing_event.collect_events(*work.touched())

    # -- reads ------------------------------------------------------------

    def customer_of(self, tenant: str, kind: str, value: str) -> uuid.UUID | None:
        """The surviving customer that owns an identifier now, if any."""
        try:
            claim: IdentityClaim = self.repository.get(claim_id(tenant, kind, value))
        except AggregateNotFoundError:
            return None
        return None if claim.customer_id is None else self.survivor(claim.customer_id)

    def customer(self, customer_id: uuid.UUID) -> Customer | None:
        try:
            found: Customer = self.repository.get(customer_id)
        except AggregateNotFoundError:
            return None
        return found

    def survivor(self, customer_id: uuid.UUID) -> uuid.UUID:
        customer: Customer = self.repository.get(customer_id)
        while customer.merged_into is not None:
            customer = self.repository.get(customer.merged_into)
        return customer.id

    def lookup(self, s: Sighting) -> Resolution:
        for kind in (*STRONG_KINDS, *WEAK_KINDS):
            value = s.identities.get(kind)
            if value is not None and not self.rules.is_junk(kind, value):
                found = self.customer_of(s.tenant, kind, value)
                if found is not None:
                    return Resolution(s.event_id, str(found), ("replayed",))
        return Resolution(s.event_id, None, ("unresolved",))


class _Working:
    """Aggregates touched in one batch: later sightings see earlier ones' changes."""

    def __init__(self, app: IdentityResolver) -> None:
        self.app = app
        self.rules = app.rules
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
        return self._erase(command)

    def _detach(self, c: DetachIdentity) -> CommandOutcome:
        owner = self.owner(c.tenant, c.kind, c.value)
        if owner is None:
            return CommandOutcome(c.command_id, False, f"{c.kind}:{c.value} belongs to no customer")
        if sum(len(v) for v in owner.identities.values()) <= 1:
            return CommandOutcome(c.command_id, False, "the customer has no other identifier")
        split = Customer(tenant=c.tenant, seed=f"detach|{c.command_id}", first_seen=owner.first_seen,
                         cause_event_id=c.command_id, split_from=owner.id)  # fmt: skip
        self.add(split)
        owner.detach_identity(c.kind, c.value, split.id, c.reason)
        split.link_identity(c.kind, c.value, c.command_id)
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
            if self.rules.is_junk(kind, value):
                flags.append(f"junk_identifier:{kind}")
            elif self.rules.is_strong(kind):
                strong.append((kind, value))
            else:
                weak.append((kind, value))
        strong.sort(key=lambda kv: STRONG_KINDS.index(kv[0]))
        weak.sort(key=lambda kv: WEAK_KINDS.index(kv[0]) if kv[0] in WEAK_KINDS else 99)
        return strong, weak

    def _target(self, s: Sighting, strong: list[tuple[str, str]], weak: list[tuple[str, str]],
                owners_strong: list[Customer], owners_weak: list[Customer], flags: list[str]) -> Customer:  # fmt: skip
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
        customer = Customer(tenant=s.tenant, seed=key if generation == 1 else f"{key}#{generation}",
                            first_seen=s.occurred_at, cause_event_id=s.event_id)  # fmt: skip
        self.add(customer)
        return customer

    def _merge_all(self, owners: list[Customer], s: Sighting, strong: list[tuple[str, str]],
                   flags: list[str]) -> Customer:  # fmt: skip
        survivor = _oldest(owners)
        for other in sorted(owners, key=_age):
            if other is survivor:
                continue
            if self._would_exceed_cap(survivor, other):
                flags.append("merge_blocked_by_identity_cap")
                continue
            if other.id in survivor.kept_apart or survivor.id in other.kept_apart:
                flags.append("merge_blocked_by_unmerge")
                continue
            reason = next(f"{k}:{v}" for k, v in strong if other.has(k, v) or survivor.has(k, v))
            self._merge(survivor, other, s, reason)
        return survivor

    def _merge(self, survivor: Customer, absorbed: Customer, s: Sighting, reason: str) -> None:
        survivor.absorb(absorbed.id, {k: list(v) for k, v in absorbed.identities.items()},
                        absorbed.first_seen, reason, s.event_id,
                        tuple(sorted(absorbed.kept_apart, key=str)), tuple(absorbed.aliases))  # fmt: skip
        absorbed.merge_into(survivor.id, reason, s.event_id)

    def _would_exceed_cap(self, a: Customer, b: Customer) -> bool:
        kinds = set(a.identities) | set(b.identities)
        return any(len(set(a.identities.get(k, [])) | set(b.identities.get(k, []))) > self.rules.max_per_kind
                   for k in kinds if self.rules.is_strong(k))  # fmt: skip

    def _link_all(self, target: Customer, s: Sighting, strong: list[tuple[str, str]],
                  weak: list[tuple[str, str]], flags: list[str]) -> None:  # fmt: skip
        for kind, value in [*strong, *weak]:
            claim: IdentityClaim | None = self.get(claim_id(s.tenant, kind, value))
            if claim is not None and claim.customer_id is not None:
                continue  # owned already (by the target, or by someone it must not merge with)
            if self.rules.is_strong(kind) and target.count(kind) >= self.rules.max_per_kind:
                flags.append(f"identity_cap_reached:{kind}")
                continue
            target.link_identity(kind, value, s.event_id)
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
