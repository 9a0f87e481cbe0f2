"""A customer's merge history, as the profile shows it: what merged in, when, why, by whom.

Read from ``customer_merges`` for the customer and every id merged into it now (an alias's
own earlier merges are part of the person's history), newest first, FINAL-free.
"""

from __future__ import annotations

import uuid
from typing import Any

from projections.reads import ALIASES_OF
from projections.store import ProjectionStore


def merge_history(
    store: ProjectionStore, tenant: str, customer_id: uuid.UUID, limit: int = 200
) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT action, toString(customer_id), toString(other_id), at, basis, "
        "argMax(reason, version), argMax(rule, version), argMax(score, version), "
        "argMax(requested_by, version), argMax(kind, version), argMax(cause_event_id, version) "
        "FROM customer_merges WHERE tenant = {t:String} "
        f"AND (customer_id = {{c:UUID}} OR customer_id IN ({ALIASES_OF})) "
        "GROUP BY tenant, customer_id, at, other_id, action, basis "
        "ORDER BY at DESC, other_id LIMIT {n:UInt32}",
        {"t": tenant, "c": customer_id, "n": limit},
    )
    return [_entry(r) for r in rows]


def _entry(row: tuple[Any, ...]) -> dict[str, Any]:
    action, into, other, at, basis, reason, rule, score, by, kind, cause = row
    entry: dict[str, Any] = {"action": action, "at": at, "reason": reason, "cause": cause}
    if action == "merged":
        entry.update(survivor_id=into, merged_id=other, basis=basis, requested_by=by or None)
        if basis == "identifier":  # the identity rules: the reason names the shared identifier
            rule = f"shared {reason.partition(':')[0]}"
        entry.update(rule=rule or None, score=score)
    else:
        entry.update(customer_id=into, moved_to=other, kind=kind)
    return entry


def standing(store: ProjectionStore, tenant: str, ids: list[str]) -> dict[str, tuple[Any, bool]]:
    """``{customer_id: (first_seen, erased)}`` for those of ``ids`` the projection knows."""
    rows = store.query_rows(
        "SELECT toString(customer_id), argMax(first_seen, version), argMax(erased, version) "
        "FROM customers WHERE tenant = {t:String} AND has({ids:Array(UUID)}, customer_id) "
        "GROUP BY customer_id",
        {"t": tenant, "ids": ids},
    )
    return {str(c): (first, bool(erased)) for c, first, erased in rows}
