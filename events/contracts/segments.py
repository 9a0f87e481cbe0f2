"""``segments``: a customer entered or left a segment, and why (``schemas/topics/segments/v1.json``).

Published by the projection service's segment refresher, projected into
``segment_changes`` (every change) and ``segment_members`` (the latest per customer).
It carries ids and the segment's own condition texts, never a customer's values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import orjson

from events.keys import customer_key

CHANGES = ("entered", "exited")


@dataclass(frozen=True)
class SegmentChanged:
    """``conditions``: per condition of a rule, its path, text, and value before and after
    (``before`` null when not known); empty for a SQL segment."""

    VERSION: ClassVar[int] = 1

    tenant: str
    segment_id: str
    segment_name: str
    segment_version: int
    customer_id: str
    change: str  # entered | exited
    reason: str
    conditions: Sequence[Mapping[str, Any]]
    changed_at_ms: int
    change_id: str

    @property
    def key(self) -> bytes:
        return customer_key(self.tenant, self.customer_id).encode()

    def encode(self) -> bytes:
        return orjson.dumps({**asdict(self), "conditions": list(self.conditions)})

    @classmethod
    def decode(cls, data: bytes) -> SegmentChanged:
        b = orjson.loads(data)
        return cls(b["tenant"], b["segment_id"], b["segment_name"], int(b["segment_version"]),
                   b["customer_id"], b["change"], b["reason"], b["conditions"],
                   int(b["changed_at_ms"]), b["change_id"])  # fmt: skip
