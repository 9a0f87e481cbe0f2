"""The identity rules: which identifiers link, which are junk, how far one customer may grow."""

from __future__ import annotations

from dataclasses import dataclass, field

from events.identities import JUNK, is_junk

STRONG_KINDS = ("customer_ref", "email", "phone", "loyalty_id")
#: Weak identifiers attach to a customer but never merge two identified customers.
WEAK_KINDS = ("social", "device_id")

DEFAULT_BLOCKLIST = JUNK


@dataclass(frozen=True)
class IdentityRules:
    """Guard rails against over-merging; defaults suit consumer brands."""

    max_per_kind: int = 5
    blocklist: frozenset[str] = field(default=DEFAULT_BLOCKLIST)

    def is_junk(self, kind: str, value: str) -> bool:
        return is_junk(kind, value, self.blocklist)

    @staticmethod
    def is_strong(kind: str) -> bool:
        return kind in STRONG_KINDS
