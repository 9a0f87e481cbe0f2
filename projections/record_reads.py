"""What the agent's header reads about the person: profile fields, consent, merges, names.

The profile's winner per field is decided by ClickHouse from ``profile_fields``
(``argMax`` over rank, event time, event id: the rule ``projections.profiles`` states
and the tests use as the oracle); consent and deliverability are folded here from the
customer's few consent events by ``projections.consents``. Every read takes the
survivor and its aliases: a merged customer's profile is the union of its parts'.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from events.names import query_keys, search_keys
from projections.consents import CONSENT_TYPES, ContactEvent, consent_state, undeliverable
from projections.merges import merge_history
from projections.profiles import FieldValue, display_name, nested
from projections.store import ProjectionStore


@dataclass(frozen=True)
class CustomerRecord:
    name: str | None
    profile: dict[str, Any]
    sources: dict[str, dict[str, Any]]  # field -> where its value came from, and when
    consent: dict[str, dict[str, dict[str, Any]]]
    undeliverable: list[dict[str, Any]]
    merges: list[dict[str, Any]]


def customer_record(store: ProjectionStore, tenant: str, ids: Sequence[str]) -> CustomerRecord:
    """The record of the customer whose survivor and aliases are ``ids`` (survivor first)."""
    params: dict[str, Any] = {"t": tenant, "ids": list(ids)}
    state = profile_fields(store, tenant, ids)
    profile = nested(state)
    events = [
        ContactEvent(
            str(type_),
            str(event),
            _instant(at),
            str(source),
            orjson.loads(payload or "{}"),
            email or None,
        )
        for type_, event, at, source, payload, email in store.query_rows(
            "SELECT type, toString(event_id), occurred_at, source, payload, identities['email'] "
            "FROM touchpoints WHERE tenant = {t:String} AND customer_id IN {ids:Array(UUID)} "
            "AND type IN {types:Array(String)} LIMIT 1 BY event_id",
            {**params, "types": list(CONSENT_TYPES)},
        )
    ]
    merges = merge_history(store, tenant, uuid.UUID(ids[0]))
    for entry in merges:
        if entry.get("basis") == "identifier":
            entry["reason"] = None  # the shared identifier's subject: ``rule`` says which kind
    return CustomerRecord(
        name=display_name(profile),
        profile=profile,
        sources={
            name: {"source": f.source, "occurred_at": f.occurred_at, "event_id": f.event_id}
            for name, f in state.items()
        },
        consent=consent_state(events),
        undeliverable=undeliverable(events),
        merges=merges,
    )


def profile_fields(
    store: ProjectionStore, tenant: str, ids: Sequence[str]
) -> dict[str, FieldValue]:
    """Each field's winning value over ``ids`` (cleared fields left out)."""
    rows = store.query_rows(
        "SELECT field, argMax(value, o), argMax(source, o), argMax(occurred_at, o), "
        "argMax(toString(event_id), o) FROM (SELECT *, (rank, occurred_at, toString(event_id)) AS o "
        "FROM profile_fields WHERE tenant = {t:String} AND customer_id IN {ids:Array(UUID)}) "
        "GROUP BY field ORDER BY field",
        {"t": tenant, "ids": list(ids)},
    )
    return {
        str(field): FieldValue(orjson.loads(value), str(source), _instant(at), str(event))
        for field, value, source, at, event in rows
        if value != "null"
    }


def names_of(store: ProjectionStore, tenant: str, customer_ids: Sequence[str]) -> dict[str, str]:
    """Display names of these customers (survivors; their aliases' profile events count)."""
    return {
        owner: name
        for owner, parts in name_parts(store, tenant, customer_ids).items()
        if (name := display_name({"name": parts}))
    }


def name_parts(
    store: ProjectionStore, tenant: str, customer_ids: Sequence[str]
) -> dict[str, dict[str, str]]:
    """The current name parts (``family``, ``given_kana``, ...) of these survivors."""
    if not customer_ids:
        return {}
    rows = store.query_rows(
        f"SELECT {_OWNER.format(a='f')} AS owner, f.field, "
        "argMax(f.value, (f.rank, f.occurred_at, toString(f.event_id))) "
        f"FROM profile_fields AS f {_SURVIVORS.format(a='f')} "
        "WHERE f.tenant = {t:String} AND startsWith(f.field, 'name.') "
        f"AND has({{ids:Array(String)}}, {_OWNER.format(a='f')}) "
        "GROUP BY owner, f.field SETTINGS join_use_nulls = 1",
        {"t": tenant, "ids": [str(c) for c in customer_ids]},
    )
    parts: dict[str, dict[str, str]] = {}
    for owner, field, value in rows:
        decoded = orjson.loads(value)
        if isinstance(decoded, str):
            parts.setdefault(str(owner), {})[str(field).split(".", 1)[1]] = decoded
    return parts


def search_names(
    store: ProjectionStore, tenant: str, text: str, prefix: bool, limit: int
) -> list[tuple[str, str]]:
    """``(customer, display name)`` of survivors whose current name matches what was typed.

    Exactly (a folded key: either order, kana, romaji) or, when ``prefix``, a key starting
    with it. ``customer_names`` keeps the keys of every name a customer ever had, so each
    hit is checked against the current name before it is returned.
    """
    typed = query_keys(text)
    if not typed:
        return []
    rows = store.query_rows(
        f"SELECT DISTINCT {_OWNER.format(a='n')} FROM customer_names AS n "
        f"{_SURVIVORS.format(a='n')} WHERE n.tenant = {{t:String}} AND (has({{k:Array(String)}}, n.key) "
        "OR ({p:Bool} AND length({k1:String}) >= 2 AND startsWith(n.key, {k1:String}))) "
        "LIMIT {n:UInt32} SETTINGS join_use_nulls = 1",
        {"t": tenant, "k": sorted(typed), "k1": min(typed, key=len), "p": prefix, "n": limit * 4},
    )
    found = name_parts(store, tenant, [str(r[0]) for r in rows])
    hits = []
    for owner, parts in found.items():
        keys = search_keys(**parts)
        exact = bool(keys & typed)
        if exact or (prefix and any(k.startswith(t) for k in keys for t in typed)):
            hits.append((0 if exact else 1, display_name({"name": parts}) or "", owner))
    return [(owner, name) for _, name, owner in sorted(hits)[:limit]]


#: a row's customer as its current survivor (``{a}``: the alias of the table joined)
_OWNER = "toString(if(isNull(s.survivor), {a}.customer_id, s.survivor))"
_SURVIVORS = (
    "LEFT JOIN (SELECT alias_id, argMax(survivor_id, version) AS survivor FROM customer_aliases "
    "WHERE tenant = {{t:String}} GROUP BY alias_id) AS s ON {a}.customer_id = s.alias_id"
)


def _instant(value: Any) -> str:
    """Event times as one comparable text (``2026-12-03T10:00:00.123Z``)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def summaries(
    store: ProjectionStore, tenant: str, customer_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """What tells namesakes apart in a result list: name, last contact, score (survivors)."""
    if not customer_ids:
        return {}
    ids = [str(c) for c in customer_ids]
    params: dict[str, Any] = {"t": tenant, "ids": ids}
    out: dict[str, dict[str, Any]] = {
        c: {"name": None, "last_contact": None, "score": None} for c in ids
    }
    for owner, name in names_of(store, tenant, ids).items():
        out[owner]["name"] = name
    for owner, last in store.query_rows(
        f"SELECT {_OWNER.format(a='t')} AS owner, max(t.occurred_at) FROM touchpoints AS t "
        f"{_SURVIVORS.format(a='t')} WHERE t.tenant = {{t:String}} "
        f"AND has({{ids:Array(String)}}, {_OWNER.format(a='t')}) AND t.channel != 'account' "
        "GROUP BY owner SETTINGS join_use_nulls = 1",
        params,
    ):
        out[str(owner)]["last_contact"] = last
    for owner, score in store.query_rows(
        "SELECT toString(customer_id), argMax(score, as_of) FROM engagement_current "
        "WHERE tenant = {t:String} AND has({ids:Array(String)}, toString(customer_id)) "
        "GROUP BY customer_id",
        params,
    ):
        out[str(owner)]["score"] = score
    return out
