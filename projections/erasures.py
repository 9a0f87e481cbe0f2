"""Erased customers: their rows are deleted from the projections, and never written again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from projections.rows import SourceRecord
from projections.store import ProjectionStore


class Erasures:
    """Erased customers: their rows are deleted, and never written again.

    A ``CustomerErased`` event removes the customer's (and its aliases')
    timeline, scores and RFM rows and unlinks their identifiers; events the
    worker had resolved to them before the erasure and that arrive later are
    dropped on the way in. Aggregates keep their counts (no personal data).
    The set is loaded from ``customers`` at start, so a restart or a replay
    applies it too.
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
        for tenant, people, at_us in erased:
            params: dict[str, Any] = {"t": tenant, "ids": people, "v": at_us}
            store.command(
                f"INSERT INTO {table('identities')} (tenant, kind, value, customer_id, version, "
                "linked, updated_at) SELECT tenant, kind, value, customer_id, {v:UInt64}, false, "
                f"now64(3) FROM {table('identities')} WHERE tenant = {{t:String}} "
                "AND has({ids:Array(UUID)}, customer_id)",
                params,
            )
            for name in ("touchpoints", "engagement_scores", "engagement_current", "rfm"):
                store.command(
                    f"DELETE FROM {table(name)} WHERE tenant = {{t:String}} "
                    "AND has({ids:Array(UUID)}, customer_id)",
                    params,
                )
            self.erased.update((tenant, person) for person in people)
