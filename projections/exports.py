"""A data subject's export: everything the projections hold about one person, as one document.

An access request (GDPR art. 15, APPI art. 33) asks for all of it, so the
export reads every table keyed by the person (the survivor and every id merged
into it): the profile, each identifier with when it was linked, the whole
timeline (not a page), every score computed, the RFM history, the merges and
the erasures that touched them. The caller audits the export; this module only
reads. Values are the stored ones (the projections hold opened values, the log
sealed ones), so the document is as readable as the agent page's unmasked view.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

import orjson

from projections import reads
from projections.store import ProjectionStore
from projections.timeline.model import TimelineQuery

EXPORT_VERSION = 1
PAGE = 1_000


def subject_export(
    store: ProjectionStore, tenant: str, customer_id: uuid.UUID
) -> dict[str, Any] | None:
    """The export of the customer ``customer_id`` reads as now; None: no such customer."""
    resolution = reads.resolve(store, tenant, customer_id)
    if resolution is None:
        return None
    survivor = resolution.survivor
    ids = list(resolution.ids)
    params: dict[str, Any] = {"t": tenant, "ids": ids}
    profile = reads.profile(store, tenant, survivor)
    return {
        "export_version": EXPORT_VERSION,
        "tenant": tenant,
        "customer_id": str(survivor),
        "requested_id": str(customer_id),
        "profile": asdict(profile),
        "identities": _identities(store, params),
        "consent": profile.consent,
        "timeline": _timeline(store, tenant, ids),
        "scores": {
            "engagement": _engagement(store, params),
            "rfm": _rfm(store, params),
        },
        "merges": _merges(store, params),
        "erasures": _erasures(store, params),
    }


def _identities(store: ProjectionStore, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT kind, value, toString(argMax(customer_id, version)) AS owner, "
        "argMax(linked, version) AS on, max(updated_at) FROM identities "
        "WHERE tenant = {t:String} GROUP BY kind, value "
        "HAVING owner IN {ids:Array(String)} AND on ORDER BY kind, value",
        params,
    )
    return [{"kind": k, "value": v, "customer_id": c, "updated_at": at} for k, v, c, _, at in rows]


def _timeline(store: ProjectionStore, tenant: str, ids: list[str]) -> list[dict[str, Any]]:
    """Every entry, newest first, read in keyset pages (the export has no limit)."""
    entries: list[dict[str, Any]] = []
    query = TimelineQuery(limit=PAGE)
    while True:
        page = reads.timeline(store, tenant, ids, query)
        entries.extend(page.entries)
        if page.next_after is None:
            return entries
        query = TimelineQuery(limit=PAGE, after=page.next_after)


def _engagement(store: ProjectionStore, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT toString(customer_id), as_of, model_version, score, events, contributions "
        "FROM engagement_scores WHERE tenant = {t:String} AND customer_id IN {ids:Array(UUID)} "
        "ORDER BY as_of, model_version",
        params,
    )
    return [
        {
            "customer_id": c,
            "as_of": at,
            "model_version": model,
            "score": score,
            "events": int(n),
            "contributions": orjson.loads(parts or "[]"),
        }
        for c, at, model, score, n, parts in rows
    ]


def _rfm(store: ProjectionStore, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT toString(customer_id), as_of, recency_days, frequency, toString(monetary), "
        "segment, churn_risk FROM rfm "
        "WHERE tenant = {t:String} AND customer_id IN {ids:Array(UUID)} ORDER BY as_of",
        params,
    )
    names = [
        "customer_id",
        "as_of",
        "recency_days",
        "frequency",
        "monetary",
        "segment",
        "churn_risk",
    ]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _merges(store: ProjectionStore, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT toString(alias_id), toString(survivor_id), reason, cause_event_id, merged_at "
        "FROM customer_aliases FINAL WHERE tenant = {t:String} "
        "AND (toString(alias_id) IN {ids:Array(String)} "
        "OR toString(survivor_id) IN {ids:Array(String)}) ORDER BY merged_at, alias_id",
        params,
    )
    names = ["alias_id", "survivor_id", "reason", "cause_event_id", "merged_at"]
    return [dict(zip(names, row, strict=True)) for row in rows]


def _erasures(store: ProjectionStore, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Ids once merged into this person that were erased since (a receipt, no values)."""
    rows = store.query_rows(
        "SELECT toString(customer_id), max(updated_at) FROM customers "
        "WHERE tenant = {t:String} AND erased AND toString(customer_id) IN {ids:Array(String)} "
        "GROUP BY customer_id ORDER BY customer_id",
        params,
    )
    return [{"customer_id": c, "erased_at": at} for c, at in rows]
