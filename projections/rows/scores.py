"""``scores`` to ``engagement_scores`` and ``rfm`` rows."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import orjson
import pyarrow as pa

from projections.rows.common import (
    UNREADABLE,
    Rejected,
    SourceRecord,
    decode,
    reject,
    table_of,
    text,
)
from projections.rows.schemas import (
    ENGAGEMENT_SCORES_SCHEMA,
    RFM_SCHEMA,
)

_MONEY_STEP = Decimal("0.0001")
_MONEY_LIMIT = Decimal(10) ** 14  # Decimal(18, 4): 14 digits before the point


# -- scores -> engagement_scores, rfm ---------------------------------------------------


def score_rows(
    records: Iterable[SourceRecord], rejected: list[Rejected] | None = None
) -> dict[str, pa.Table]:
    """``engagement_scores`` (every published score: the history) and ``rfm`` rows.

    ``contributions`` and ``channels`` are compact JSON, as published.
    ``monetary`` is rounded half-to-even to the column's 4 decimals (the model
    computes it exactly from decimal strings; a currency with more than 4
    decimals is the only thing that loses precision here).
    """
    scores: list[tuple[Any, ...]] = []
    rfms: list[tuple[Any, ...]] = []
    for record in records:
        body = decode(record, rejected)
        if body is None:
            continue
        try:
            score, rfm = _score_row(body), _rfm_row(body)
        except UNREADABLE as exc:
            reject(record, f"not a published score: {exc!r}", rejected)
            continue
        scores.append(score)
        rfms.append(rfm)
    return {
        "engagement_scores": table_of(ENGAGEMENT_SCORES_SCHEMA, scores),
        "rfm": table_of(RFM_SCHEMA, rfms),
    }


def _score_row(body: dict[str, Any]) -> tuple[Any, ...]:
    engagement = body["engagement"]
    return (
        text(body["tenant"]),
        text(body["customer_id"]),
        int(body["as_of_ms"]),
        text(body["model_version"]),
        float(engagement["score"]),
        float(engagement["raw"]),
        int(body["events"]),
        orjson.dumps(engagement["contributions"]).decode(),
        orjson.dumps(body.get("channels") or {}).decode(),
    )


def _rfm_row(body: dict[str, Any]) -> tuple[Any, ...]:
    rfm = body["rfm"]
    recency = rfm.get("recency_days")
    return (
        text(body["tenant"]),
        text(body["customer_id"]),
        int(body["as_of_ms"]),
        text(body["model_version"]),
        None if recency is None else float(recency),
        int(rfm["frequency"]),
        _money(rfm["monetary"]),
        text(rfm["segment"]),
        text(rfm["churn_risk"]),
    )


def _money(text: Any) -> Decimal:
    amount = Decimal(str(text)).quantize(_MONEY_STEP, ROUND_HALF_EVEN)
    if not amount.is_finite() or abs(amount) >= _MONEY_LIMIT:
        raise ValueError(f"monetary {text!r} does not fit Decimal(18, 4)")
    return amount
