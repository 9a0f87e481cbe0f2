"""The ``TimelineReader`` contract: every reader answers as the one keyset rule says.

A chDB store and a serving index receive the same awkward rows (events
sharing a millisecond, an event under an alias and under its survivor, an
alias re-pointed when its survivor merged in turn, a repeated row, another
tenant); an oracle computes from the rows alone what every resolution and
every page must be. Each adapter (``make_reader``) is checked against it; a
reader may answer ``MISS`` (it cannot say for certain) only where
``may_miss`` allows.
"""

from __future__ import annotations

import abc
import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from events.timestamps import epoch_ms
from projections.migrations import apply_migrations
from projections.serving_index import ServingIndex
from projections.store import ProjectionStore, open_projection_store
from projections.timeline.keyset import sort_key
from projections.timeline.model import HeadPage, Resolution, TimelineQuery, _Miss
from projections.timeline.port import TimelineReader

T = "acme"
START = datetime(2026, 3, 1, tzinfo=UTC)
KINDS = [("phone", "call.completed"), ("email", "email.opened"), ("chat", "chat.started"),
         ("store", "purchase.completed")]  # fmt: skip
QUERIES = [
    TimelineQuery(limit=7), TimelineQuery(limit=50), TimelineQuery(limit=1),
    TimelineQuery(limit=5, channels=("phone", "chat")), TimelineQuery(limit=4, types=("email.opened",)),
    TimelineQuery(limit=6, since=START + timedelta(seconds=2), until=START + timedelta(seconds=7)),
]  # fmt: skip
Row = tuple[str, str, datetime, str, int]  # tenant, customer, occurred_at, event id, kind


def touchpoints(rows: list[Row]) -> pa.Table:
    """Rows as the projector's ``touchpoints`` table."""
    return pa.table({
        "tenant": [r[0] for r in rows], "customer_id": [r[1] for r in rows],
        "occurred_at": pa.array([r[2] for r in rows], pa.timestamp("ms", tz="UTC")),
        "event_id": [r[3] for r in rows],
        "channel": [KINDS[r[4]][0] for r in rows], "type": [KINDS[r[4]][1] for r in rows],
        "schema_version": pa.array([1] * len(rows), pa.uint16()),
        "summary": [f"entry {r[3][:8]}" for r in rows],
        "payload": [f'{{"e":"{r[3][:8]}"}}' for r in rows],  # a copy of an event is the same event
        "identities": pa.array([[]] * len(rows), pa.map_(pa.string(), pa.string())),
        "identity_flags": pa.array([[]] * len(rows), pa.list_(pa.string())),
        "received_at": pa.array([r[2] + timedelta(seconds=1) for r in rows], pa.timestamp("ms", tz="UTC")),
        "source": ["test"] * len(rows),
        "kafka_partition": pa.array([0] * len(rows), pa.uint16()),
        "kafka_offset": pa.array(range(len(rows)), pa.uint64()),
    })  # fmt: skip


def customers(tenant: str, ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table({
        "tenant": [tenant] * n, "customer_id": ids, "version": pa.array([1] * n, pa.uint64()),
        "first_seen": pa.array([START] * n, pa.timestamp("ms", tz="UTC")),
        "identities": pa.array([[]] * n, pa.map_(pa.string(), pa.list_(pa.string()))),
        "consent": pa.array([[]] * n, pa.map_(pa.string(), pa.bool_())),
        "survivor_id": ids, "erased": [False] * n,
        "updated_at": pa.array([START] * n, pa.timestamp("ms", tz="UTC")),
    })  # fmt: skip


def aliases(tenant: str, links: list[tuple[str, str, int]]) -> pa.Table:
    n = len(links)
    return pa.table({
        "tenant": [tenant] * n, "alias_id": [a for a, _, _ in links],
        "survivor_id": [s for _, s, _ in links], "version": pa.array([v for *_, v in links], pa.uint64()),
        "reason": ["email"] * n, "cause_event_id": [""] * n,
        "merged_at": pa.array([START] * n, pa.timestamp("ms", tz="UTC")),
    })  # fmt: skip


@dataclass
class World:
    """A store and an index fed the same tables, and what an oracle says they hold."""

    store: ProjectionStore
    index: ServingIndex
    rows: list[Row]
    people: list[str]
    other: str
    links: dict[str, tuple[str, int]]  # alias -> (survivor, version): the newest version wins

    def write(self, table: str, rows: pa.Table) -> None:
        self.store.insert_arrow(table, rows, None)
        self.index.apply(table, rows)

    # -- the oracle ---------------------------------------------------------------------

    def resolution(self, tenant: str, customer: str) -> Resolution | None:
        if tenant == T and customer in self.links:
            customer = self.links[customer][0]
        known = self.people if tenant == T else [self.other]
        if customer not in known:
            return None
        merged = sorted(a for a, (s, _) in self.links.items() if s == customer and tenant == T)
        return Resolution(uuid.UUID(customer), (customer, *merged))

    def timeline(self, tenant: str, ids: tuple[str, ...]) -> list[Row]:
        """Newest first in the keyset order; an event under two ids once."""
        mine = [r for r in self.rows if r[0] == tenant and r[1] in ids]
        mine.sort(key=lambda r: sort_key(epoch_ms(r[2]), r[3]), reverse=True)
        seen: set[str] = set()
        return [r for r in mine if not (r[3] in seen or seen.add(r[3]))]  # type: ignore[func-returns-value]

    def page(self, tenant: str, ids: tuple[str, ...], query: TimelineQuery) -> list[str]:
        def admitted(r: Row) -> bool:
            channel, type_ = KINDS[r[4]]
            return ((not query.channels or channel in query.channels)
                    and (not query.types or type_ in query.types)
                    and (query.since is None or r[2] >= query.since)
                    and (query.until is None or r[2] < query.until)
                    and (query.after is None or sort_key(epoch_ms(r[2]), r[3])
                         < sort_key(epoch_ms(query.after[0]), query.after[1])))  # fmt: skip

        return [r[3] for r in self.timeline(tenant, ids) if admitted(r)][: query.limit + 1]


def build_world(store: ProjectionStore, index: ServingIndex, rng: random.Random) -> World:
    people = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(8)]
    other = str(uuid.uuid4())
    rows: list[Row] = []
    for person in people:
        for _ in range(rng.randrange(20, 90)):
            at = START + timedelta(milliseconds=rng.randrange(0, 40) * 250)  # many equal times
            rows.append((T, person, at, str(uuid.uuid4()), rng.randrange(len(KINDS))))
    shared = str(uuid.uuid4())  # one event under an alias and under its survivor
    rows += [(T, people[1], START, shared, 0), (T, people[0], START, shared, 0)]
    rows.append(rows[0])  # a repeated row: folded by the key, as ReplacingMergeTree does
    rows.append(("other", other, START, str(uuid.uuid4()), 1))
    rng.shuffle(rows)
    world = World(store, index, sorted(set(rows)), people, other, {})
    half = len(rows) // 2
    world.write("touchpoints", touchpoints(rows[:half]))  # two flushes
    world.write("touchpoints", touchpoints(rows[half:]))
    world.write("customers", customers(T, people))
    world.write("customers", customers("other", [other]))
    # 1 and 2 merge into 0; 3 into 4, which later merges into 5: 3 is re-pointed to 5
    first = [(people[1], people[0], 2), (people[2], people[0], 2), (people[3], people[4], 2)]
    later = [(people[4], people[5], 3), (people[3], people[5], 3), (people[2], people[6], 1)]
    world.write("customer_aliases", aliases(T, first))
    world.write("customer_aliases", aliases(T, later))
    for alias, survivor, version in [*first, *later]:
        if alias not in world.links or version > world.links[alias][1]:
            world.links[alias] = (survivor, version)
    return world


@pytest.fixture(name="world")
def world_fixture(tmp_path: Path) -> Iterator[World]:
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    apply_migrations(store)
    index = ServingIndex(tmp_path / "serving.sqlite3")
    index.ready = True  # written beside the store from the start: it mirrors it
    try:
        yield build_world(store, index, random.Random(7))
    finally:
        index.close()
        store.close()


def _ids_of(page: Any) -> list[str]:
    if isinstance(page, HeadPage):
        return [fact[0] for fact in page.facts]
    return [str(entry["event_id"]) for entry in page.entries]


class TimelineReaderContract(abc.ABC):
    """Subclassed once per adapter (``test_timeline_readers.py``)."""

    may_miss = False  # a reader that can always answer (the store) never says MISS

    @abc.abstractmethod
    def make_reader(self, world: World) -> TimelineReader: ...

    def test_resolutions_follow_the_newest_merge(self, world: World) -> None:
        reader = self.make_reader(world)
        asked = [*world.people, str(uuid.uuid4())]
        answered = 0
        for tenant in (T, "other"):
            for person in [*asked, world.other]:
                found = asyncio.run(reader.resolve(tenant, uuid.UUID(person)))
                if isinstance(found, _Miss):
                    assert self.may_miss
                    continue
                expected = world.resolution(tenant, person)
                answered += 1
                if expected is None:
                    assert found is None, person
                else:
                    assert found is not None, person
                    assert (found.survivor, sorted(found.ids)) == (
                        expected.survivor,
                        sorted(expected.ids),
                    )
        assert answered or self.may_miss

    def test_every_page_of_every_query_is_what_the_keyset_rule_says(self, world: World) -> None:
        reader = self.make_reader(world)
        compared = 0
        for person in world.people:
            resolution = world.resolution(T, person)
            assert resolution is not None
            for query in QUERIES:
                expected = world.page(T, resolution.ids, query)
                page = asyncio.run(reader.page(T, resolution, query))
                while not isinstance(page, _Miss):
                    found = _ids_of(page)
                    assert found == expected[: query.limit], (person, query)
                    assert (page.next_after is not None) == (len(expected) > query.limit)
                    compared += len(found)
                    if page.next_after is None:
                        break
                    query = TimelineQuery(query.limit, page.next_after, query.channels,
                                          query.types, query.since, query.until)  # fmt: skip
                    expected = world.page(T, resolution.ids, query)
                    page = asyncio.run(reader.page(T, resolution, query))
                else:
                    assert self.may_miss
        assert compared > 500 or self.may_miss

    def test_a_head_is_the_newest_entries_and_says_whether_it_is_all(self, world: World) -> None:
        reader = self.make_reader(world)
        for person in world.people:
            resolution = world.resolution(T, person)
            assert resolution is not None
            rows = world.timeline(T, resolution.ids)
            everything = [r[3] for r in rows]
            for entries in (5, 500):
                head = asyncio.run(reader.head(T, resolution, entries))
                if isinstance(head, _Miss):
                    assert self.may_miss
                    continue
                assert [fact[0] for fact in head.facts] == everything[: len(head.facts)]
                assert head.complete == (len(head.facts) == len(everything))
                written = [orjson.loads(text) for text in head.texts]  # as the API writes it
                assert [(e["event_id"], e["channel"], e["type"], e["occurred_at"],
                         e["payload"]) for e in written] == [
                    (r[3], *KINDS[r[4]], r[2].isoformat(timespec="milliseconds")[:-6] + "Z",
                     {"e": r[3][:8]}) for r in rows[: len(written)]]  # fmt: skip
