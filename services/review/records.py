"""A tenant's customers as the projection holds them, in the matcher's terms.

Each surviving, unerased customer (aliases folded into their survivor) gets the identifiers
linked to it now (``identities``) and the profiles published for it
(``customer.profile_updated`` payloads in ``touchpoints``, opened by the projector).
"""

from __future__ import annotations

from typing import Any

import orjson

from projections.store import ProjectionStore
from services.matching.records import CustomerRecord, RecordBuilder


def tenant_records(store: ProjectionStore, tenant: str) -> list[CustomerRecord]:
    params: dict[str, Any] = {"t": tenant}
    survivor = {
        str(alias): str(into)
        for alias, into in store.query_rows(
            "SELECT toString(alias_id), toString(argMax(survivor_id, version)) "
            "FROM customer_aliases WHERE tenant = {t:String} GROUP BY alias_id",
            params,
        )
    }
    builders = {
        str(c): RecordBuilder(str(c))
        for (c,) in store.query_rows(
            "SELECT toString(customer_id) FROM customers WHERE tenant = {t:String} "
            "GROUP BY customer_id HAVING NOT argMax(erased, version)",
            params,
        )
        if str(c) not in survivor
    }
    for kind, value, owner in store.query_rows(
        "SELECT kind, value, toString(argMax(customer_id, version)) FROM identities "
        "WHERE tenant = {t:String} GROUP BY kind, value HAVING argMax(linked, version)",
        params,
    ):
        found = builders.get(survivor.get(str(owner), str(owner)))
        if found is not None:
            found.add_identities({str(kind): str(value)})
    for owner, payload in store.query_rows(
        "SELECT toString(customer_id), payload FROM touchpoints WHERE tenant = {t:String} "
        "AND type = 'customer.profile_updated' ORDER BY occurred_at LIMIT 1 BY event_id",
        params,
    ):
        found = builders.get(survivor.get(str(owner), str(owner)))
        if found is not None:
            found.add_profile(orjson.loads(payload or "{}"))
    return [b.build() for b in builders.values()]
