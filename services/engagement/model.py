"""The engagement model, version ``engagement-v1``: explainable, and a function of the event set.

score = 100 * (1 - exp(-S / 20)), S = sum over the customer's distinct events
of weight(type) * 0.5 ** (age_days / 30), age measured from ``as_of``.
Arrival order and duplicates cannot change it: it is computed from the set of
facts keyed by event_id. Each score carries the (channel, type) contributions
that make it up, largest first.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MODEL_VERSION = "engagement-v1"
HALF_LIFE_DAYS = 30.0
SATURATION = 20.0
RFM_WINDOW_DAYS = 365
DAY_MS = 86_400_000

WEIGHTS: dict[str, float] = {
    "call.started": 0.0,
    "call.completed": 5.0,
    "call.missed": 1.0,
    "voicemail.left": 2.0,
    "chat.started": 1.0,
    "chat.message_received": 2.0,
    "chat.message_sent": 0.0,
    "chat.ended": 1.0,
    "email.sent": 0.0,
    "email.delivered": 0.0,
    "email.opened": 1.0,
    "email.clicked": 3.0,
    "email.bounced": 0.0,
    "email.replied": 4.0,
    "email.unsubscribed": -5.0,
    "store.visited": 4.0,
    "purchase.completed": 10.0,
    "purchase.refunded": -3.0,
    "social.dm_received": 3.0,
    "social.dm_sent": 0.0,
    "social.mentioned": 2.0,
    "form.submitted": 4.0,
    "web.page_viewed": 0.5,
}


@dataclass(frozen=True, slots=True)
class Fact:
    """What the model needs of one touchpoint."""

    type: str
    channel: str
    at_ms: int
    amount: str | None = None
    #: digests of the identifiers the event carried: an unmerge moves the facts that carried
    #: the detached identifier (and no identifier that stays)
    identities: tuple[str, ...] = ()

    def as_list(self) -> list[Any]:
        return [self.type, self.channel, self.at_ms, self.amount, list(self.identities)]

    @classmethod
    def from_list(cls, row: list[Any]) -> Fact:
        return cls(row[0], row[1], int(row[2]), row[3], tuple(row[4]) if len(row) > 4 else ())


def decay(age_ms: int) -> float:
    return float(0.5 ** (max(age_ms, 0) / DAY_MS / HALF_LIFE_DAYS))


def engagement(facts: Iterable[Fact], as_of_ms: int, top: int = 5) -> dict[str, Any]:
    parts: dict[tuple[str, str], list[float]] = {}
    for fact in facts:
        value = WEIGHTS.get(fact.type, 0.0) * decay(as_of_ms - fact.at_ms)
        entry = parts.setdefault((fact.channel, fact.type), [0, 0.0])
        entry[0] += 1
        entry[1] += value
    raw = sum(v for _, v in parts.values())
    contributions: list[dict[str, Any]] = [
        {
            "channel": ch,
            "type": t,
            "events": int(n),
            "weight": WEIGHTS.get(t, 0.0),
            "value": round(v, 3),
        }
        for (ch, t), (n, v) in parts.items()
        if v != 0
    ]
    contributions.sort(key=lambda c: (-abs(c["value"]), c["type"]))
    score = 100.0 * (1.0 - math.exp(-max(raw, 0.0) / SATURATION))
    return {"score": round(score, 1), "raw": round(raw, 3), "contributions": contributions[:top]}


def rfm(facts: Iterable[Fact], as_of_ms: int) -> dict[str, Any]:
    since = as_of_ms - RFM_WINDOW_DAYS * DAY_MS
    purchases = sorted(
        f.at_ms for f in facts if f.type == "purchase.completed" and since <= f.at_ms <= as_of_ms
    )
    money = Decimal(0)
    for f in facts:
        if f.amount is not None and since <= f.at_ms <= as_of_ms:
            money += Decimal(f.amount) * (-1 if f.type == "purchase.refunded" else 1)
    recency = (as_of_ms - purchases[-1]) / DAY_MS if purchases else None
    return {
        "recency_days": None if recency is None else round(recency, 2),
        "frequency": len(purchases),
        "monetary": str(money),
        "segment": segment(recency, len(purchases)),
        "churn_risk": churn_risk(purchases, recency),
    }


def segment(recency_days: float | None, frequency: int) -> str:
    if recency_days is None:
        return "prospect"
    r = 3 if recency_days <= 30 else 2 if recency_days <= 90 else 1
    f = 3 if frequency >= 5 else 2 if frequency >= 2 else 1
    if r == 3 and f == 3:
        return "champion"
    if r >= 2 and f >= 2:
        return "loyal"
    if r == 3:
        return "new"
    return "at_risk" if f >= 2 else "hibernating"


def churn_risk(purchase_times: list[int], recency_days: float | None) -> str:
    """Recency against the customer's own usual gap between purchases."""
    if recency_days is None or len(purchase_times) < 2:
        return "unknown"
    gaps = [(b - a) / DAY_MS for a, b in itertools.pairwise(purchase_times)]
    usual = max(statistics.median(gaps), 1.0)
    ratio = recency_days / usual
    return "high" if ratio >= 3 else "medium" if ratio >= 1.5 else "low"


def channel_activity(facts: Iterable[Fact]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f in facts:
        entry = out.setdefault(f.channel, {"count": 0, "last_contact_ms": 0})
        entry["count"] += 1
        entry["last_contact_ms"] = max(entry["last_contact_ms"], f.at_ms)
    return out


def summarize(facts: list[Fact], as_of_ms: int) -> dict[str, Any]:
    """Everything published on the ``scores`` topic for one customer."""
    return {
        "model_version": MODEL_VERSION,
        "as_of_ms": as_of_ms,
        "events": len(facts),
        "engagement": engagement(facts, as_of_ms),
        "rfm": rfm(facts, as_of_ms),
        "channels": channel_activity(facts),
    }
