"""What the timeline readers hand back: resolutions, queries, pages and heads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

#: a position in a timeline: (occurred_at, event id) of the last entry of a page
Cursor = tuple[datetime, str]
#: What a filter, a cursor or the masker needs of a timeline entry: (event_id, channel, type,
#: schema_version, occurred_at in epoch milliseconds). A plain tuple of strings and ints,
#: which the garbage collector stops tracking after one pass.
Fact = tuple[str, str, str, int, int]


class _Miss:
    """A tier that cannot answer for certain (not ready, not kept): ask the next one."""

    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Miss()


@dataclass(frozen=True)
class Resolution:
    """Whom an id reads as: the survivor, and the ids whose rows are its timeline."""

    survivor: uuid.UUID
    ids: tuple[str, ...]  # the survivor first, then every id merged into it


@dataclass(frozen=True)
class TimelineQuery:
    """One page: ``limit`` entries older than ``after``, matching the filters (None: any)."""

    limit: int = 50
    after: Cursor | None = None
    channels: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    @property
    def first_page(self) -> bool:
        return self.after is None


@dataclass(frozen=True)
class TimelinePage:
    entries: list[dict[str, Any]]
    next_after: Cursor | None  # the last entry's key, when more may follow


@dataclass(frozen=True)
class Head:
    """A survivor's newest timeline entries, newest first; ``complete``: there are no others.

    Each entry is kept as the JSON the API writes for it (``texts``, unmasked)
    with its ``facts`` beside it, not as a dict: a first page is then written
    without parsing payloads or formatting times, and a thousand kept heads
    are a hundred thousand byte strings and untracked tuples, which the
    garbage collector does not walk, instead of half a million dicts it did.
    """

    texts: list[bytes]
    facts: list[Fact]
    complete: bool


@dataclass(frozen=True)
class HeadPage:
    """A page answered from a head: its entries' JSON and facts, and the cursor key."""

    texts: list[bytes]
    facts: list[Fact]
    next_after: Cursor | None


Page = TimelinePage | HeadPage
