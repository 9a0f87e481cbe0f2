"""What the resolver takes and answers: a touchpoint's sighting, its resolution, a command's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class Sighting(NamedTuple):
    """What identity resolution needs of a touchpoint.

    ``identities``: kind -> subject (the keyed hash it links by); ``sealed``: kind -> the
    value as logged (kept beside the subject, readable until an erasure); ``junk``: the
    kinds ingest judged placeholders (it saw them in clear).
    """

    tenant: str
    event_id: str
    occurred_at: str
    type: str
    identities: Mapping[str, str]
    sealed: Mapping[str, str] = {}
    junk: frozenset[str] = frozenset()


class Resolution(NamedTuple):
    event_id: str
    customer_id: str | None  # None: only junk identifiers, nothing to resolve to
    flags: tuple[str, ...]


class CommandOutcome(NamedTuple):
    command_id: str
    applied: bool
    detail: str  # what changed, or why nothing did
