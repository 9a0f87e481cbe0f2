"""The identity rules: which identifiers link, which are junk, how far one customer may grow."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STRONG_KINDS = ("customer_ref", "email", "phone", "loyalty_id")
#: Weak identifiers attach to a customer but never merge two identified customers.
WEAK_KINDS = ("social", "device_id")

DEFAULT_BLOCKLIST = frozenset(
    {
        "email:test@example.com",
        "email:noreply@example.com",
        "email:no-reply@example.com",
        "email:none@none.com",
        "email:null@null.com",
        "phone:+10000000000",
        "customer_ref:0",
        "customer_ref:unknown",
        "loyalty_id:0",
    }
)
_REPEATED_DIGITS = re.compile(r"^\+?(\d)\1{6,}$")


@dataclass(frozen=True)
class IdentityRules:
    """Guard rails against over-merging; defaults suit consumer brands."""

    max_per_kind: int = 5
    blocklist: frozenset[str] = field(default=DEFAULT_BLOCKLIST)

    def is_junk(self, kind: str, value: str) -> bool:
        if not value.strip() or f"{kind}:{value}" in self.blocklist:
            return True
        return kind == "phone" and bool(_REPEATED_DIGITS.match(value.lstrip("+1")))

    @staticmethod
    def is_strong(kind: str) -> bool:
        return kind in STRONG_KINDS
