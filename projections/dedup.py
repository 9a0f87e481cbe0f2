"""The projector's dedup stage: each event is projected once, as its earliest sighting.

Copies of one event reach ``touchpoints.resolved`` (an event sent twice, one
repeated after a crash, one following a merge); ``touchpoint_ids`` remembers
what was projected, and within a flush the copies are compared by
``rows.sighting_order``, so the kept copy does not depend on the order
partitions were read in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from projections import rows
from projections.rows import SourceRecord
from projections.store import ProjectionStore


class Dedup:
    def __init__(self, store: ProjectionStore, table: Callable[[str], str] = str) -> None:
        """``table`` names the tables (a replay writes under other names)."""
        self.store, self.table = store, table

    def unseen(self, records: Sequence[SourceRecord]) -> dict[tuple[str, str], SourceRecord]:
        """Per (tenant, event_id) not projected before, its earliest sighting."""
        keys: dict[tuple[str, str], SourceRecord] = {}
        for record in records:
            key = rows.event_key(record)
            if key is None:
                continue
            kept = keys.get(key)
            if kept is None or rows.sighting_order(record) < rows.sighting_order(kept):
                keys[key] = record
        if not keys:
            return {}
        seen = self.store.query_rows(
            f"SELECT tenant, toString(event_id) FROM {self.table('touchpoint_ids')} "
            "WHERE (tenant, event_id) IN (SELECT tupleElement(k, 1), toUUID(tupleElement(k, 2)) "
            "FROM (SELECT arrayJoin(arrayZip({ts:Array(String)}, {es:Array(String)})) AS k))",
            {"ts": [t for t, _ in keys], "es": [e for _, e in keys]},
        )
        for tenant, event_id in seen:
            keys.pop((tenant, event_id), None)
        return keys

    def remember(self, keys: Sequence[tuple[str, str]], flush_id: str) -> None:
        """After the touchpoints: a crash in between must not hide an event (its flush is redone)."""
        ids = pa.table(
            {
                "tenant": [t for t, _ in keys],
                "event_id": pa.array([e for _, e in keys], pa.string()),
            }
        )
        self.store.insert_arrow(self.table("touchpoint_ids"), ids, f"touchpoint_ids:{flush_id}")
