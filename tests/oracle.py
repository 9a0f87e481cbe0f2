"""An oracle for identity resolution and engagement, written without the processors' code.

It follows the documented rules directly: strong identifiers (customer_ref,
email, phone, loyalty_id) that appear on one event belong to one customer;
weak identifiers (device_id, social) belong to the customer of the strong
identifiers they appear with; junk values belong to nobody. It assumes no
weak identifier is shared by two people and no one exceeds the identity cap
(true of simulated data; the guard rails have their own tests). Scores follow
the formula in the model's docstring.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

STRONG = {"customer_ref", "email", "phone", "loyalty_id"}
JUNK = {"email:test@example.com", "email:noreply@example.com"}
WEIGHT = {"call.completed": 5, "call.missed": 1, "voicemail.left": 2, "chat.started": 1,
          "chat.message_received": 2, "chat.ended": 1, "email.opened": 1, "email.clicked": 3,
          "email.replied": 4, "email.unsubscribed": -5, "store.visited": 4, "purchase.completed": 10,
          "purchase.refunded": -3, "social.dm_received": 3, "social.mentioned": 2,
          "form.submitted": 4, "web.page_viewed": 0.5}  # fmt: skip


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def expected_customers(envelopes: list[dict[str, Any]]) -> list[frozenset[str]]:
    """The partition of ``kind:value`` identities into customers."""
    uf = UnionFind()
    for e in envelopes:
        keys = [f"{k}:{v}" for k, v in e["identities"].items() if f"{k}:{v}" not in JUNK]
        strong = [k for k in keys if k.split(":", 1)[0] in STRONG]
        anchor = (strong or keys or [None])[0]
        for key in keys:
            uf.find(key)
            if anchor is not None:
                uf.union(key, anchor)
    groups: dict[str, set[str]] = defaultdict(set)
    for key in list(uf.parent):
        groups[uf.find(key)].add(key)
    return [frozenset(g) for g in groups.values()]


def owner_of(customers: list[frozenset[str]]) -> dict[str, frozenset[str]]:
    return {key: group for group in customers for key in group}


def facts_for(group: frozenset[str], envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in envelopes:
        if any(f"{k}:{v}" in group for k, v in e["identities"].items()):
            seen.setdefault(e["event_id"], e)
    return list(seen.values())


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def expected_score(events: list[dict[str, Any]], as_of_ms: int) -> float:
    raw = sum(WEIGHT.get(e["type"], 0) * 0.5 ** (max(as_of_ms - _ms(e["occurred_at"]), 0) / 86_400_000 / 30)
              for e in events)  # fmt: skip
    return round(100 * (1 - math.exp(-max(raw, 0) / 20)), 1)


def expected_rfm(events: list[dict[str, Any]], as_of_ms: int) -> tuple[int, str]:
    since = as_of_ms - 365 * 86_400_000
    inside = [e for e in events if since <= _ms(e["occurred_at"]) <= as_of_ms]
    frequency = sum(1 for e in inside if e["type"] == "purchase.completed")
    money = sum((Decimal(e["payload"]["amount"]) * (-1 if e["type"] == "purchase.refunded" else 1)
                 for e in inside if e["type"].startswith("purchase.")), Decimal(0))  # fmt: skip
    return frequency, str(money)
