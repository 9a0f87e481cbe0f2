"""Merges a person decided (``merge_customers``): by hand, or by accepting a suggested duplicate.

The identity rules merge only on a shared strong identifier; these merge on a person's word,
which overrides an earlier unmerge of the two (``kept_apart``) but not the identity cap or
an erasure. Who decided, when and why go into the merge events (``MergeDecision``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from events.contracts.commands import MergeCustomers
from services.identity.domain import Customer, MergeDecision
from services.identity.outcomes import CommandOutcome

if TYPE_CHECKING:
    from services.identity.batch import BatchWork


def merge_decided(work: BatchWork, c: MergeCustomers) -> CommandOutcome:
    """``absorbed_id`` (and its aliases) into ``survivor_id``, each read as its current survivor."""
    survivor, absorbed = _live(work, c.tenant, c.survivor_id), _live(work, c.tenant, c.absorbed_id)
    refused = _refusal(survivor, absorbed)
    if refused is not None or survivor is None or absorbed is None:
        return CommandOutcome(c.command_id, False, refused or "no such customer")
    if work.would_exceed_cap(survivor, absorbed):
        limit = work.rules.max_per_kind
        return CommandOutcome(c.command_id, False, f"the merge would exceed {limit} "
                              "identifiers of a kind")  # fmt: skip
    basis = "suggestion" if c.rule is not None else "manual"
    decided = MergeDecision(basis, c.requested_by, c.requested_at, c.rule or "", c.score,
                            c.suggestion_id or "")  # fmt: skip
    work.absorb(survivor, absorbed, c.command_id, c.reason, decided.as_dict())
    return CommandOutcome(c.command_id, True, f"merged {absorbed.id} into {survivor.id}")


def _live(work: BatchWork, tenant: str, customer_id: str) -> Customer | None:
    found: Customer | None = work.get(uuid.UUID(customer_id))
    if found is None or found.tenant != tenant:
        return None
    return work.survivor_of(found)


def _refusal(survivor: Customer | None, absorbed: Customer | None) -> str | None:
    """Why a decided merge cannot apply, if it cannot."""
    if survivor is None or absorbed is None:
        return "no such customer in this tenant"
    if survivor.erased or absorbed.erased:
        return "the customer was erased"
    if survivor is absorbed:
        return "already one customer"
    return None
