"""``scores``: a customer's engagement score, RFM and channel activity, at every change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from events.keys import customer_key


@dataclass(frozen=True)
class ScoreMessage:
    """``engagement``: score, raw sum and top contributions; ``rfm``: recency, frequency,
    monetary, segment and churn risk; ``channels``: count and last contact per channel."""

    VERSION: ClassVar[int] = 1

    tenant: str
    customer_id: str
    model_version: str
    as_of_ms: int
    events: int
    engagement: Mapping[str, Any]
    rfm: Mapping[str, Any]
    channels: Mapping[str, Mapping[str, int]]

    @property
    def key(self) -> bytes:
        return customer_key(self.tenant, self.customer_id).encode()

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "tenant": self.tenant,
                "customer_id": self.customer_id,
                "model_version": self.model_version,
                "as_of_ms": self.as_of_ms,
                "events": self.events,
                "engagement": self.engagement,
                "rfm": self.rfm,
                "channels": self.channels,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> ScoreMessage:
        b = orjson.loads(data)
        return cls(
            b["tenant"],
            b["customer_id"],
            b["model_version"],
            int(b["as_of_ms"]),
            int(b["events"]),
            b["engagement"],
            b["rfm"],
            b["channels"],
        )
