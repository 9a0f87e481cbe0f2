"""The timeline's order and what a page is, defined once; each reader renders it in its own terms.

Order: newest first by ``occurred_at`` (milliseconds), then by event id in
ClickHouse's UUID order (the id's second 8 bytes, then its first 8), so that
ties on a millisecond break the same way in ClickHouse, in SQLite and in a
kept head. A page after a cursor holds the entries strictly older than the
cursor in that order; ``since`` is inclusive and ``until`` exclusive; channels
and types are sets (None: any). Rendered for ClickHouse (``clickhouse``), for
the serving index's SQLite (``sqlite``) and for facts in memory
(``admits``); the contract suite checks the three against one oracle.
"""

from __future__ import annotations

from typing import Any

from events.timestamps import epoch_ms
from projections.timeline.model import Cursor, Fact, TimelineQuery

CLICKHOUSE_ORDER = "occurred_at DESC, event_id DESC"
SQLITE_ORDER = "occurred_ms DESC, event_key DESC"


def event_key(event_id: str) -> bytes:
    """The id's bytes in the order ClickHouse sorts UUIDs: the second 8 bytes, then the first.

    From the hex digits directly: ``uuid.UUID`` took a quarter of an index rebuild."""
    raw = bytes.fromhex(event_id.replace("-", ""))
    if len(raw) != 16:
        raise ValueError(f"not a UUID: {event_id!r}")
    return raw[8:] + raw[:8]


def sort_key(occurred_ms: int, event_id: str) -> tuple[int, bytes]:
    return occurred_ms, event_key(event_id)


def cursor_key(cursor: Cursor) -> tuple[int, bytes]:
    return sort_key(epoch_ms(cursor[0]), cursor[1])


def clickhouse(query: TimelineQuery, params: dict[str, Any]) -> list[str]:
    """The page's conditions on ``touchpoints``, their values added to ``params``."""
    where = []
    if query.after is not None:
        where.append("(occurred_at, event_id) < ({at:DateTime64(3)}, {id:UUID})")
        params["at"], params["id"] = query.after
    if query.channels:
        where.append("has({channels:Array(String)}, channel)")
        params["channels"] = list(query.channels)
    if query.types:
        where.append("has({types:Array(String)}, type)")
        params["types"] = list(query.types)
    if query.since is not None:
        where.append("occurred_at >= {since:DateTime64(3)}")
        params["since"] = query.since
    if query.until is not None:
        where.append("occurred_at < {until:DateTime64(3)}")
        params["until"] = query.until
    return where


def sqlite(query: TimelineQuery, params: list[Any]) -> list[str]:
    """The page's conditions on the serving index's ``entries``, their values appended."""
    where = []
    if query.after is not None:
        at, key = cursor_key(query.after)
        where.append("(occurred_ms < ? OR (occurred_ms = ? AND event_key < ?))")
        params += [at, at, key]
    if query.channels:
        where.append(f"channel IN ({', '.join('?' * len(query.channels))})")
        params += query.channels
    if query.types:
        where.append(f"type IN ({', '.join('?' * len(query.types))})")
        params += query.types
    if query.since is not None:
        where.append("occurred_ms >= ?")
        params.append(epoch_ms(query.since))
    if query.until is not None:
        where.append("occurred_ms < ?")
        params.append(epoch_ms(query.until))
    return where


class Admits:
    """The page's conditions on facts in memory (a kept head), prepared once per query."""

    def __init__(self, query: TimelineQuery) -> None:
        self.before = cursor_key(query.after) if query.after is not None else None
        self.channels = set(query.channels) if query.channels else None
        self.types = set(query.types) if query.types else None
        self.low = epoch_ms(query.since) if query.since is not None else None
        self.high = epoch_ms(query.until) if query.until is not None else None

    def __call__(self, fact: Fact) -> bool:
        event_id, channel, type_, _, at = fact
        if self.channels is not None and channel not in self.channels:
            return False
        if self.types is not None and type_ not in self.types:
            return False
        if (self.low is not None and at < self.low) or (self.high is not None and at >= self.high):
            return False
        return self.before is None or sort_key(at, event_id) < self.before
