"""Erased customers: their rows are deleted from the projections, and never written again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from projections.rows import SourceRecord
from projections.store import ProjectionStore

#: what an erasure deletes: every table that holds a customer's rows (the erased customers
#: row itself stays: it is how the projector knows them, and it holds no values)
PERSONAL = (
    "touchpoints",
    "identities",
    "engagement_scores",
    "engagement_current",
    "rfm",
    "profile_fields",
    "customer_names",
    "customer_merges",  # a person's reason may name them
    "segment_members",
    "segment_changes",
)
#: tables naming customers in pairs: rows naming an erased one are deleted too
PAIRS = {"duplicate_suggestions": ("customer_a", "customer_b")}


class Erasures:
    """Erased customers: their rows are deleted from disk, and never written again.

    A ``CustomerErased`` event removes the customer's (and its aliases')
    timeline, identifiers, profiles, scores and RFM rows, and the analyst
    queries that named one of their values; events the worker had resolved to
    them before the erasure and that arrive later are dropped on the way in.
    The deletes are mutations run to the end (``mutations_sync``): the parts
    they replace leave the disk within seconds (migration 0010), so nothing
    stays readable in ClickHouse's files. Aggregates keep their counts (no
    personal data). The set is loaded from ``customers`` at start, so a
    restart or a replay applies it too.
    """

    def __init__(self) -> None:
        self.erased: set[tuple[str, str]] = set()

    def load(self, store: ProjectionStore, table: Callable[[str], str]) -> None:
        rows_ = store.query_rows(
            f"SELECT tenant, toString(customer_id) FROM {table('customers')} "
            "GROUP BY tenant, customer_id HAVING argMax(erased, version)"
        )
        self.erased = {(str(t), str(c)) for t, c in rows_}

    def covers(self, record: SourceRecord) -> bool:
        if not self.erased:
            return False
        body = orjson.loads(record.value)
        return (body.get("tenant"), body.get("customer_id")) in self.erased

    def found_in(self, records: Sequence[SourceRecord]) -> list[tuple[str, list[str], int]]:
        """(tenant, the customer and its aliases, erasure time in µs) for each erasure."""
        found = []
        for record in records:
            body = orjson.loads(record.value)
            if body.get("type") == "CustomerErased":
                people = [body["customer_id"], *body.get("profile", {}).get("aliases", [])]
                at = datetime.fromisoformat(body["recorded_at"])
                found.append((body["tenant"], people, int(at.timestamp() * 1_000_000)))
        return found

    def apply(
        self,
        store: ProjectionStore,
        erased: list[tuple[str, list[str], int]],
        table: Callable[[str], str],
    ) -> None:
        for tenant, people, _ in erased:
            params: dict[str, Any] = {"t": tenant, "ids": people}
            mine = "tenant = {t:String} AND has({ids:Array(UUID)}, customer_id)"
            values = [str(v) for (v,) in store.query_rows(
                f"SELECT DISTINCT value FROM {table('identities')} WHERE {mine}", params)]  # fmt: skip
            values += [str(orjson.loads(v)) for (v,) in store.query_rows(
                f"SELECT DISTINCT value FROM {table('profile_fields')} WHERE {mine} "
                "AND startsWith(field, 'name.') AND value != 'null'", params)]  # fmt: skip
            for name in PERSONAL:
                _delete(store, table(name), mine, params)
            for name, (a, b) in PAIRS.items():
                either = f"tenant = {{t:String}} AND (has({{ids:Array(UUID)}}, {a}) OR has({{ids:Array(UUID)}}, {b}))"
                _delete(store, table(name), either, params)
            _delete(store, table("customers"), f"{mine} AND NOT erased", params)
            if values:  # what an analyst typed while looking for them
                _delete_queries_naming(store, table("audit_queries"), tenant, values)
            self.erased.update((tenant, person) for person in people)


def _delete_queries_naming(
    store: ProjectionStore, table: str, tenant: str, values: list[str]
) -> None:
    """Found first, deleted by their hashes: a mutation's text stays on disk (``mutation_N.txt``)
    and must not carry the values it was asked to remove."""
    params: dict[str, Any] = {"t": tenant, "v": values}
    hashes = [int(h) for (h,) in store.query_rows(
        f"SELECT DISTINCT cityHash64(query) FROM {table} "
        "WHERE tenant = {t:String} AND multiSearchAny(query, {v:Array(String)})", params)]  # fmt: skip
    if hashes:
        _delete(store, table, "tenant = {t:String} AND has({h:Array(UInt64)}, cityHash64(query))",
                {"t": tenant, "h": hashes})  # fmt: skip


def _delete(store: ProjectionStore, table: str, where: str, params: dict[str, Any]) -> None:
    store.command(f"ALTER TABLE {table} DELETE WHERE {where} SETTINGS mutations_sync = 2", params)
