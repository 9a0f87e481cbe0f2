"""Reads of projected membership: an export's audience with consent applied, a customer's segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from projections.store import ProjectionStore

#: the identity kind that addresses each channel, when one does
ADDRESS_KIND = {"email": "email", "sms": "phone", "phone": "phone", "line": "line"}


@dataclass
class Audience:
    """Who may be contacted, and how many members were left out for which consent state."""

    rows: list[dict[str, Any]]
    excluded: dict[str, int]


def audience(store: ProjectionStore, tenant: str, segment_id: str, channel: str,
             purpose: str) -> Audience:  # fmt: skip
    """The segment's members whose consent for ``channel``/``purpose`` is ``granted``.

    Every other member is counted by state: ``withdrawn``, or ``unknown`` (nothing
    recorded, or no longer a customer of record: merged away or erased since the refresh).
    """
    params: dict[str, Any] = {"t": tenant, "s": segment_id, "ch": channel, "pu": purpose}
    rows = store.query_rows(
        "SELECT toString(m.customer_id), if(c.state = '', 'unknown', c.state) FROM "
        "(SELECT customer_id FROM segment_members FINAL WHERE tenant = {t:String} "
        "AND segment_id = {s:UUID} AND member) AS m LEFT JOIN (SELECT customer_id, state "
        "FROM consent_state WHERE tenant = {t:String} AND channel = {ch:String} AND "
        "purpose = {pu:String}) AS c ON c.customer_id = m.customer_id ORDER BY 1", params)  # fmt: skip
    granted = [str(c) for c, state in rows if state == "granted"]
    excluded = {"withdrawn": 0, "unknown": 0}
    for _, state in rows:
        if state != "granted":
            excluded["withdrawn" if state == "withdrawn" else "unknown"] += 1
    addresses = _addresses(store, tenant, granted, ADDRESS_KIND.get(channel))
    return Audience([{"customer_id": c, "address": addresses.get(c)} for c in granted], excluded)


def _addresses(
    store: ProjectionStore, tenant: str, ids: list[str], kind: str | None
) -> dict[str, str]:
    if not ids or kind is None:
        return {}
    rows = store.query_rows(
        "SELECT toString(customer_id), min(value) FROM (SELECT customer_id, value, "
        "argMax(linked, version) AS linked FROM identities WHERE tenant = {t:String} AND "
        "kind = {k:String} AND customer_id IN {ids:Array(UUID)} GROUP BY customer_id, value) "
        "WHERE linked GROUP BY customer_id", {"t": tenant, "k": kind, "ids": ids})  # fmt: skip
    return {str(c): str(v) for c, v in rows}


def member_segments(
    store: ProjectionStore, tenant: str, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The segments the customer (its survivor and aliases ``ids``) is in now, by name."""
    rows = store.query_rows(
        "SELECT toString(segment_id), argMax(segment_name, seq), min(since) FROM segment_members "
        "FINAL WHERE tenant = {t:String} AND customer_id IN {ids:Array(UUID)} AND member "
        "GROUP BY segment_id ORDER BY 2", {"t": tenant, "ids": list(ids)})  # fmt: skip
    return [{"segment_id": s, "name": n, "since": at} for s, n, at in rows]
