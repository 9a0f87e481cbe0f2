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
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError, OperationalError, ProcessRecorder, Tracking
from eventsourcing.popo import POPOFactory
from eventsourcing.projection import EventSourcedProjection

from events.contracts.commands import Command, EraseCustomer
from services.compat.eventsourcing import MultiTracking, POPOMultiTrackingRecorder
from services.identity.batch import BatchWork
from services.identity.domain import (
    Customer,
    IdentityClaim,
    claim_id,
)
from services.identity.outcomes import CommandOutcome, Resolution, Sighting
from services.identity.rules import STRONG_KINDS, WEAK_KINDS, IdentityRules


@dataclass
class SightingBatch:
    """Touchpoints processed as a unit: one transaction, one position per partition."""

    sightings: list[Sighting]
    more_tracking: list[Tracking] = field(default_factory=list)  # partitions after the first
    resolutions: list[Resolution] = field(default_factory=list)


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
            raise TypeError(
                f"{type(self.recorder).__name__} cannot store several positions; "
                "open the store with services.identity.store.eventsourcing_env"
            )
        self.rules = rules or IdentityRules()

    def construct_recorder(self) -> ProcessRecorder:
        if isinstance(self.factory, POPOFactory):  # in memory (tests): no recorder topic there
            return POPOMultiTrackingRecorder()
        for attempt in range(8):
            try:
                return super().construct_recorder()
            except (IntegrityError, OperationalError):
                # Workers opening a new store at once all create its tables: a slower one's
                # migration tracking row collides with a faster one's, or switching the file
                # to WAL finds it locked. The tables exist soon, and opening again finds them.
                time.sleep(0.05 * (attempt + 1))
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
        self._working: BatchWork | None = None
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
        work = self._working = BatchWork(self, self.rules)
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

    def erasure_subjects(self, tenant: str, command: EraseCustomer) -> list[str]:
        """Every subject the customer (and its aliases) had data sealed under: the keys to shred.

        Read before the erasure is applied: the keys go first, so a crash in
        between repeats the (idempotent) shredding rather than skipping it.
        """
        if command.customer_id is not None:
            found = self.customer(uuid.UUID(command.customer_id))
            survivor = None if found is None else self.customer(self.survivor(found.id))
        elif command.kind is not None and command.value is not None:
            owner = self.customer_of(tenant, command.kind, command.value)
            survivor = None if owner is None else self.customer(owner)
        else:
            survivor = None
        if survivor is None or survivor.tenant != tenant or survivor.erased:
            return []
        everyone = [survivor, *(c for a in survivor.aliases if (c := self.customer(a)) is not None)]
        return sorted({subject for person in everyone for subject in person.subjects()})

    def lookup(self, s: Sighting) -> Resolution:
        for kind in (*STRONG_KINDS, *WEAK_KINDS):
            value = s.identities.get(kind)
            if value is not None and kind not in s.junk:
                found = self.customer_of(s.tenant, kind, value)
                if found is not None:
                    return Resolution(s.event_id, str(found), ("replayed",))
        return Resolution(s.event_id, None, ("unresolved",))
