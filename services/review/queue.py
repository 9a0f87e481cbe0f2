"""Suggested duplicates kept for review in ``duplicate_suggestions``, and the decisions on them.

``refresh`` runs the matcher over a tenant's customers and keeps every pair scoring at least
``REVIEW_SCORE`` that nobody has decided on; a decided pair (accepted or rejected) is never
suggested again. Rows are versioned by the time they are written (µs), so the newest wins.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

from projections.rows.common import MS, schema
from projections.store import ProjectionStore
from services.matching.matcher import find_duplicates
from services.matching.scoring import Suggestion
from services.review.records import tenant_records

NAMESPACE = uuid.UUID("8e0c3d52-3f5b-4a43-9b7e-2d41c6f0a9b7")
SCHEMA = schema(
    ("tenant", pa.string()),
    ("customer_a", pa.string()),
    ("customer_b", pa.string()),
    ("suggestion_id", pa.string()),
    ("score", pa.float64()),
    ("rules", pa.list_(pa.string())),
    ("evidence", pa.string()),
    ("status", pa.string()),
    ("found_at", MS),
    ("decided_by", pa.string()),
    ("decided_at", MS),
    ("command_id", pa.string()),
    ("note", pa.string()),
    ("version", pa.uint64()),
)
_COLUMNS = ", ".join(SCHEMA.names)


@dataclass(frozen=True)
class Pending:
    """One suggestion as kept: the pair, its score and evidence, and what was decided."""

    tenant: str
    customer_a: str
    customer_b: str
    suggestion_id: str
    score: float
    rules: list[str]
    evidence: list[dict[str, Any]]
    status: str
    found_at: Any
    decided_by: str
    decided_at: Any
    command_id: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        body = dict(self.__dict__)
        del body["tenant"]
        return body

    def why(self) -> str:
        """The evidence as a merge's reason: codes and weights, never the values compared."""
        found = ", ".join(f"{e['code']} {e['weight']:+.1f}" for e in self.evidence)
        return f"suggested duplicate (score {self.score:.2f}): {found}"

    def rule(self) -> str:
        return "+".join(self.rules) + ": " + ",".join(e["code"] for e in self.evidence)


def suggestion_id(tenant: str, a: str, b: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{tenant}|{a}|{b}"))


class ReviewQueue:
    def __init__(self, store: ProjectionStore) -> None:
        self.store = store

    def refresh(self, tenant: str) -> int:
        """Run the matcher over ``tenant``'s customers; returns how many pairs are open."""
        matching = find_duplicates(tenant_records(self.store, tenant))
        decided = self._decided(tenant)
        now = time.time_ns() // 1000
        rows = [_row(tenant, s, now) for s in matching.suggestions if (s.a, s.b) not in decided]
        if rows:
            columns = list(zip(*rows, strict=True))
            table = pa.Table.from_arrays(
                [pa.array(c, f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA
            )
            self.store.insert_arrow("duplicate_suggestions", table)
        return len(rows)

    def pending(self, tenant: str, limit: int = 100, status: str = "open") -> list[Pending]:
        """Open suggestions whose customers are both still survivors, best first; or those
        decided (``accepted``, ``rejected``), newest decision first."""
        if status != "open":
            return self._select(tenant, "status = {status:String}", {"n": limit, "status": status},
                                "ORDER BY decided_at DESC, customer_a LIMIT {n:UInt32}")  # fmt: skip
        return self._select(
            tenant,
            f"status = 'open' AND customer_a NOT IN ({_MERGED}) AND customer_b NOT IN ({_MERGED})",
            {"n": limit},
            "ORDER BY score DESC, customer_a LIMIT {n:UInt32}",
        )

    def get(self, tenant: str, suggestion: str) -> Pending | None:
        found = self._select(tenant, "suggestion_id = {s:UUID}", {"s": suggestion}, "")
        return found[0] if found else None

    def decide(
        self, pending: Pending, status: str, by: str, command_id: str = "", note: str = ""
    ) -> None:
        now = time.time_ns() // 1000
        row = (pending.tenant, pending.customer_a, pending.customer_b, pending.suggestion_id,
               pending.score, pending.rules, orjson.dumps(pending.evidence).decode(), status,
               _ms(pending.found_at), by, now // 1000, command_id, note, now)  # fmt: skip
        table = pa.Table.from_arrays(
            [pa.array([v], f.type) for v, f in zip(row, SCHEMA, strict=True)], schema=SCHEMA
        )
        self.store.insert_arrow("duplicate_suggestions", table)

    def _decided(self, tenant: str) -> set[tuple[str, str]]:
        rows = self.store.query_rows(
            "SELECT toString(customer_a), toString(customer_b) FROM duplicate_suggestions "
            "WHERE tenant = {t:String} GROUP BY customer_a, customer_b "
            "HAVING argMax(status, version) != 'open'",
            {"t": tenant},
        )
        return {(str(a), str(b)) for a, b in rows}

    def _select(self, tenant: str, where: str, params: dict[str, Any], tail: str) -> list[Pending]:
        latest = ", ".join(
            f"argMax({c}, version) AS {c}"
            for c in SCHEMA.names
            if c not in ("tenant", "customer_a", "customer_b", "version")
        )
        rows = self.store.query_rows(
            "SELECT tenant, toString(customer_a), toString(customer_b), toString(suggestion_id), "
            "score, rules, evidence, status, found_at, decided_by, decided_at, command_id, note FROM ("
            f"SELECT tenant, customer_a, customer_b, {latest} FROM duplicate_suggestions "
            "WHERE tenant = {t:String} GROUP BY tenant, customer_a, customer_b) "
            f"WHERE {where} {tail}",
            {"t": tenant, **params},
        )
        return [_pending(r) for r in rows]


#: every customer merged into another now
_MERGED = "SELECT alias_id FROM customer_aliases WHERE tenant = {t:String} GROUP BY alias_id"


def _row(tenant: str, s: Suggestion, now_us: int) -> tuple[Any, ...]:
    evidence = [
        {"code": e.code, "detail": e.detail, "similarity": e.similarity, "weight": e.weight}
        for e in s.evidence
    ]
    return (tenant, s.a, s.b, suggestion_id(tenant, s.a, s.b), round(s.score, 4),
            list(s.rules), orjson.dumps(evidence).decode(), "open", now_us // 1000, "", None,
            "", "", now_us)  # fmt: skip


def _pending(row: tuple[Any, ...]) -> Pending:
    tenant, a, b, sid, score, rules, evidence, status, found, by, at, command, note = row
    return Pending(str(tenant), a, b, sid, float(score), list(rules), orjson.loads(evidence),
                   str(status), found, str(by), at, str(command), str(note))  # fmt: skip


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)
