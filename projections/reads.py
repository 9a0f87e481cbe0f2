"""What an agent reads: search, the 360 profile, the timeline, and what changed since.

Every read is scoped by tenant and reads FINAL-free: ReplacingMergeTree
tables through ``argMax(..., version) GROUP BY key``, the timeline through
keyset pagination on ``(occurred_at, event_id)`` so that events arriving
meanwhile never shift a later page. A merged customer reads as one: any of
its ids resolves to the survivor, whose timeline includes its aliases' rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from projections.store import ProjectionStore
from projections.timeline import keyset
from projections.timeline.model import Resolution, TimelinePage, TimelineQuery


@dataclass(frozen=True)
class Profile:
    customer_id: str
    aliases: list[str]
    first_seen: datetime | None
    identities: dict[str, list[str]]
    consent: dict[str, bool]
    erased: bool
    engagement: dict[str, Any] | None
    rfm: dict[str, Any] | None
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)


#: every id merged into customer ``{c}`` now (an alias may have been re-pointed since)
ALIASES_OF = (
    "SELECT alias_id FROM customer_aliases WHERE tenant = {t:String} "
    "GROUP BY alias_id HAVING argMax(survivor_id, version) = {c:UUID}"
)


def aliases(store: ProjectionStore, tenant: str, customer_id: uuid.UUID) -> list[str]:
    rows = store.query_rows(
        f"SELECT toString(alias_id) FROM ({ALIASES_OF}) ORDER BY alias_id",
        {"t": tenant, "c": customer_id},
    )
    return [str(r[0]) for r in rows]


def resolve(store: ProjectionStore, tenant: str, customer_id: uuid.UUID) -> Resolution | None:
    """The survivor an id reads as now, with its aliases; None: no such customer.

    One query in the usual case (three scalar subqueries: merged into whom,
    known at all, and what was merged into this id); a second only when the
    id asked for is itself an alias. At 50 concurrent agents every round trip
    to the store waits its turn.
    """
    rows = store.query_rows(
        "SELECT (SELECT toString(argMax(survivor_id, version)) FROM customer_aliases "
        "        WHERE tenant = {t:String} AND alias_id = {c:UUID}), "
        "       (SELECT count() FROM customers WHERE tenant = {t:String} AND customer_id = {c:UUID}), "
        f"      (SELECT arraySort(groupArray(toString(alias_id))) FROM ({ALIASES_OF}))",
        {"t": tenant, "c": customer_id},
    )
    merged_into, known, merged_here = rows[0]
    if merged_into and str(merged_into) != "00000000-0000-0000-0000-000000000000":
        survivor = uuid.UUID(str(merged_into))
        return Resolution(survivor, (str(survivor), *aliases(store, tenant, survivor)))
    if not known:
        return None
    return Resolution(customer_id, (str(customer_id), *(str(a) for a in merged_here)))


def timeline(
    store: ProjectionStore, tenant: str, customer_ids: Sequence[str], query: TimelineQuery
) -> TimelinePage:
    """Newest first, ``query.limit`` entries after its cursor (``keyset``); no default window.

    ``customer_ids`` are a ``Resolution``'s: the survivor and its aliases.
    """
    params: dict[str, Any] = {"t": tenant, "n": query.limit + 1, "ids": list(customer_ids)}
    where = [
        "tenant = {t:String}",
        "customer_id IN {ids:Array(UUID)}",
        *keyset.clickhouse(query, params),
    ]
    rows = store.query_rows(
        "SELECT toString(event_id), occurred_at, channel, type, summary, source, payload, "
        "toString(customer_id), received_at, schema_version FROM touchpoints "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY {keyset.CLICKHOUSE_ORDER} LIMIT 1 BY event_id LIMIT {{n:UInt32}}",
        params,
    )
    limit = query.limit
    entries = [_entry(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_after = (rows[limit - 1][1], str(rows[limit - 1][0])) if more and entries else None
    return TimelinePage(entries, next_after)


def _entry(row: tuple[Any, ...]) -> dict[str, Any]:
    event_id, at, channel, type_, summary, source, payload, recorded_under, received, version = row
    return {
        "event_id": event_id,
        "occurred_at": at,
        "channel": channel,
        "type": type_,
        "summary": summary,
        "source": source,
        "payload": orjson.loads(payload or "{}"),
        "recorded_under": recorded_under,
        "received_at": received,
        "schema_version": int(version),
    }


def profile(store: ProjectionStore, tenant: str, customer_id: uuid.UUID) -> Profile:
    params: dict[str, Any] = {"t": tenant, "c": customer_id}
    found = store.query_rows(
        "SELECT argMax(identities, version), argMax(consent, version), argMax(erased, version), "
        "argMax(first_seen, version) FROM customers WHERE tenant = {t:String} AND customer_id = {c:UUID}",
        params,
    )
    identities, consent, erased, first_seen = found[0] if found else ([], [], False, None)
    alias_ids = aliases(store, tenant, customer_id)
    score = store.query_rows(
        "SELECT argMax(score, as_of), argMax(model_version, as_of), argMax(contributions, as_of), "
        "max(as_of) FROM engagement_current WHERE tenant = {t:String} AND customer_id = {c:UUID}",
        params,
    )
    rfm = store.query_rows(
        "SELECT argMax(recency_days, as_of), argMax(frequency, as_of), argMax(monetary, as_of), "
        "argMax(segment, as_of), argMax(churn_risk, as_of), max(as_of) FROM rfm "
        "WHERE tenant = {t:String} AND customer_id = {c:UUID}",
        params,
    )
    channels = store.query_rows(
        "SELECT channel, uniqExact(event_id), max(occurred_at) FROM touchpoints "
        "WHERE tenant = {t:String} AND customer_id IN {ids:Array(UUID)} "
        "GROUP BY channel ORDER BY channel",
        {"t": tenant, "ids": [str(customer_id), *alias_ids]},
    )
    has_score = bool(score and score[0][3] and score[0][1])
    has_rfm = bool(rfm and rfm[0][5] and rfm[0][3])
    return Profile(
        customer_id=str(customer_id),
        aliases=alias_ids,
        first_seen=first_seen,
        identities={str(k): list(v) for k, v in _pairs(identities)},
        consent={str(k): bool(v) for k, v in _pairs(consent)},
        erased=bool(erased),
        engagement={
            "score": score[0][0],
            "model_version": score[0][1],
            "contributions": orjson.loads(score[0][2] or "[]"),
            "as_of": score[0][3],
        }
        if has_score
        else None,
        rfm={
            "recency_days": rfm[0][0],
            "frequency": rfm[0][1],
            "monetary": str(rfm[0][2]),
            "segment": rfm[0][3],
            "churn_risk": rfm[0][4],
            "as_of": rfm[0][5],
        }
        if has_rfm
        else None,
        channels={str(ch): {"count": int(n), "last_contact": last} for ch, n, last in channels},
    )


def _pairs(value: Any) -> list[tuple[Any, Any]]:
    """Map columns arrive as a dict or as a list of pairs, depending on the adapter."""
    if isinstance(value, dict):
        return list(value.items())
    return [tuple(p) for p in value or []]


def search(
    store: ProjectionStore,
    tenant: str,
    candidates: list[tuple[str, str]],
    text: str,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Customers owning one of ``candidates`` (kind, normalized value) exactly, then by prefix.

    Ranked: exact identifier matches first, then identifiers starting with
    ``text`` (an email's local part, a handle, a loyalty number's start).
    """
    rows = store.query_rows(
        """
        SELECT toString(owner) AS customer, min(rank) AS best, groupUniqArray(concat(kind, ':', value)) AS matched
        FROM (
            SELECT kind, value, argMax(customer_id, version) AS owner, argMax(linked, version) AS live,
                   if(has({exact:Array(String)}, concat(kind, ':', value)), 1, 2) AS rank
            FROM identities
            WHERE tenant = {t:String}
              AND (has({exact:Array(String)}, concat(kind, ':', value))
                   OR (length({prefix:String}) >= 3 AND startsWith(lower(value), lower({prefix:String}))))
            GROUP BY kind, value
        )
        WHERE live
        GROUP BY owner
        ORDER BY best, customer
        LIMIT {n:UInt32} OFFSET {o:UInt32}
        """,
        {
            "t": tenant,
            "exact": [f"{k}:{v}" for k, v in candidates],
            "prefix": text.strip(),
            "n": limit,
            "o": offset,
        },
    )
    return [
        {
            "customer_id": c,
            "match": "exact" if best == 1 else "prefix",
            "matched": [
                dict(zip(("kind", "value"), m.split(":", 1), strict=True)) for m in sorted(matched)
            ],
        }
        for c, best, matched in rows
    ]


def changes_since(
    store: ProjectionStore, tenant: str, customer_ids: Sequence[str], since: datetime
) -> tuple[list[dict[str, Any]], datetime]:
    """Timeline entries projected after ``since`` (for the live stream), and the new watermark.

    ``customer_ids`` are a ``Resolution``'s: the survivor and its aliases.
    """
    rows = store.query_rows(
        "SELECT toString(event_id), occurred_at, channel, type, summary, source, payload, "
        "toString(customer_id), received_at, schema_version, projected_at FROM touchpoints "
        "WHERE tenant = {t:String} AND customer_id IN {ids:Array(UUID)} "
        "AND projected_at > {since:DateTime64(3)} ORDER BY projected_at, occurred_at LIMIT 1 BY event_id",
        {"t": tenant, "ids": list(customer_ids), "since": since},
    )
    latest = max((r[10] for r in rows), default=since)
    return [_entry(r[:10]) for r in rows], latest


def current_score(
    store: ProjectionStore, tenant: str, customer_id: uuid.UUID
) -> dict[str, Any] | None:
    rows = store.query_rows(
        "SELECT argMax(score, as_of), argMax(model_version, as_of), argMax(contributions, as_of), "
        "max(as_of) FROM engagement_current WHERE tenant = {t:String} AND customer_id = {c:UUID}",
        {"t": tenant, "c": customer_id},
    )
    if not rows or not rows[0][1]:
        return None
    score, model, contributions, at = rows[0]
    return {
        "score": score,
        "model_version": model,
        "contributions": orjson.loads(contributions or "[]"),
        "as_of": at,
    }


def freshness(store: ProjectionStore) -> dict[str, Any]:
    """How far behind the log the projections are, per projection, as the projector last wrote."""
    rows = store.query_rows(
        "SELECT projection_name, sum(partition_lag), max(written_at) FROM ("
        " SELECT projection_name, topic, partition, argMax(lag, updated_at) AS partition_lag,"
        " max(updated_at) AS written_at FROM projection_status"
        " GROUP BY projection_name, topic, partition) GROUP BY projection_name ORDER BY projection_name"
    )
    return {str(name): {"lag_records": int(lag), "last_write": at} for name, lag, at in rows}


def owner_of(store: ProjectionStore, tenant: str, kind: str, value: str) -> uuid.UUID | None:
    """The customer a (normalized) identifier is linked to now, if any."""
    rows = store.query_rows(
        "SELECT toString(argMax(customer_id, version)), argMax(linked, version) FROM identities "
        "WHERE tenant = {t:String} AND kind = {k:String} AND value = {v:String}",
        {"t": tenant, "k": kind, "v": value},
    )
    if not rows or not rows[0][1]:
        return None
    return uuid.UUID(rows[0][0])
