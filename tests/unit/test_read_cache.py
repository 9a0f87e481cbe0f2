"""The agent API's read cache: pages from a head only when exact, and nothing kept past a write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from projections.timeline.model import Head, Resolution, TimelineQuery
from projections.timeline.store import fact_of as _fact
from services.query.cache import ReadCache
from services.query.tiers import page_from_head

T = "shop"
START = datetime(2026, 3, 1, tzinfo=UTC)
CHANNELS = ["phone", "email", "chat"]


def entries(n: int) -> list[dict[str, Any]]:
    """``n`` entries, newest first, one a minute, channels in turn."""
    return [{"event_id": str(uuid.UUID(int=i + 1)), "occurred_at": START - timedelta(minutes=i),
             "channel": CHANNELS[i % 3], "type": f"{CHANNELS[i % 3]}.x", "schema_version": 1}
            for i in range(n)]  # fmt: skip


def newest(n: int, complete: bool) -> Head:
    kept = entries(n)
    return Head([orjson.dumps(e) for e in kept], [_fact(e) for e in kept], complete)


def ids(page: Any) -> list[str]:
    """The page's event ids, read from its entries' JSON (and checked against its facts)."""
    found = [orjson.loads(text)["event_id"] for text in page.texts]
    assert found == [fact[0] for fact in page.facts]
    return found


def test_a_complete_head_answers_every_filter_exactly() -> None:
    head = newest(10, True)
    page = page_from_head(head, TimelineQuery(limit=50, channels=("email",)))
    assert page is not None and ids(page) == [e["event_id"] for e in entries(10)[1::3]]
    assert page.next_after is None


def test_a_page_cut_inside_the_head_carries_the_cursor_of_its_last_entry() -> None:
    head = newest(100, False)
    first = page_from_head(head, TimelineQuery(limit=50))
    assert first is not None and ids(first) == ids(newest(50, True))
    assert first.next_after == (entries(50)[-1]["occurred_at"], entries(50)[-1]["event_id"])
    second = page_from_head(head, TimelineQuery(limit=20, after=first.next_after))
    assert second is not None and ids(second) == [e["event_id"] for e in entries(70)[50:]]


def test_an_incomplete_head_that_runs_out_answers_nothing() -> None:
    head = newest(100, False)
    chat = TimelineQuery(limit=50, channels=("chat",))
    assert page_from_head(head, chat) is None  # 33 in the head, more beyond
    past_the_head = (START - timedelta(minutes=100), str(uuid.UUID(int=101)))
    assert page_from_head(head, TimelineQuery(limit=50, after=past_the_head)) is None


def test_time_range_is_since_inclusive_until_exclusive() -> None:
    head = newest(10, True)
    page = page_from_head(head, TimelineQuery(limit=50, since=START - timedelta(minutes=3),
                                              until=START - timedelta(minutes=1)))  # fmt: skip
    assert page is not None and ids(page) == [
        e["event_id"] for e in entries(4)[2:4]
    ]  # minutes 2 and 3 back


def resolution(survivor: str, *aliases: str) -> Resolution:
    return Resolution(uuid.UUID(survivor), (survivor, *aliases))


S, A, B = (str(uuid.uuid4()) for _ in range(3))


def test_a_write_to_any_id_of_a_timeline_drops_its_head_and_resolutions() -> None:
    cache = ReadCache()
    cache.keep_resolution(T, A, resolution(S, A), cache.epoch)
    cache.keep_head(T, resolution(S, A), newest(3, True), cache.epoch)
    cache.keep_resolution(T, B, resolution(B), cache.epoch)
    cache.drop({(T, A)})  # a late event recorded under the alias
    assert cache.head(T, S) is None and cache.resolution(T, A) is None
    assert cache.resolution(T, B) is not None  # another customer stays
    cache.drop({("other-tenant", B)})
    assert cache.resolution(T, B) is not None  # tenants are apart


def test_what_was_read_before_a_write_is_not_kept() -> None:
    cache = ReadCache()
    epoch = cache.epoch  # a read starts...
    cache.drop({(T, S)})  # ...the projector writes meanwhile...
    cache.keep_head(T, resolution(S), newest(3, True), epoch)  # ...the read ends
    assert cache.head(T, S) is None


def test_the_least_recently_used_go_first_and_leave_no_watchers() -> None:
    cache = ReadCache(max_customers=2)
    people = [str(uuid.uuid4()) for _ in range(3)]
    for person in people[:2]:
        cache.keep_head(T, resolution(person), newest(0, True), cache.epoch)
    assert cache.head(T, people[0]) is not None  # used: now the newest
    cache.keep_head(T, resolution(people[2]), newest(0, True), cache.epoch)
    assert cache.head(T, people[1]) is None
    assert cache.head(T, people[0]) is not None and cache.head(T, people[2]) is not None
    assert set(cache._watchers) == {(T, people[0]), (T, people[2])}
    cache.clear()
    assert len(cache) == 0 and cache.head(T, people[0]) is None
