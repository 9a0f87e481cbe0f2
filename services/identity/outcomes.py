"""What the resolver takes and answers: a touchpoint's sighting, its resolution, a command's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Sighting(NamedTuple):
    """What identity resolution needs of a touchpoint.

    ``identities``: kind -> subject (the keyed hash it links by); ``sealed``: kind -> the
    value as logged (kept beside the subject, readable until an erasure); ``junk``: the
    kinds ingest judged placeholders (it saw them in clear); ``linked``: more identifiers the
    event vouches for (a profile's listed emails and phones) as (kind, subject, sealed).
    """

    tenant: str
    event_id: str
    occurred_at: str
    type: str
    identities: Mapping[str, str]
    sealed: Mapping[str, str] = {}
    junk: frozenset[str] = frozenset()
    linked: tuple[tuple[str, str, str], ...] = ()

    def sealed_of(self, kind: str, subject: str) -> str:
        """The value as logged of one of the identifiers this sighting carries."""
        if self.identities.get(kind) == subject:
            return self.sealed.get(kind, "")
        return next((v for k, s, v in self.linked if k == kind and s == subject), "")

    @classmethod
    def of_logged(cls, envelope: Mapping[str, Any]) -> Sighting:
        """As the identity stage reads a logged envelope: by its subjects, with ingest's junk."""
        return cls(
            envelope["tenant"],
            envelope["event_id"],
            envelope["occurred_at"],
            envelope["type"],
            envelope["subjects"],
            envelope["identities"],
            frozenset(envelope["junk"]),
            tuple((k, s, v) for k, s, v in envelope.get("linked") or ()),
        )


class Resolution(NamedTuple):
    event_id: str
    customer_id: str | None  # None: only junk identifiers, nothing to resolve to
    flags: tuple[str, ...]


class CommandOutcome(NamedTuple):
    command_id: str
    applied: bool
    detail: str  # what changed, or why nothing did
