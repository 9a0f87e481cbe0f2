"""What the serving index does beyond answering reads (the contract suite checks those).

It mirrors the store it is written beside: an erasure removes from both, a
rebuild from the store equals the index written beside it, a change made
without the index unmarks it and the mirror rebuilds it, an index file of
another layout is dropped and rebuilt, and ids are read as the store writes
them.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projections import reads
from projections.migrations import apply_migrations
from projections.projector import Erasures
from projections.serving_index import IndexMirror, ServingIndex, forget_mark
from projections.store import ProjectionStore, open_projection_store
from projections.timeline.model import TimelineQuery
from tests.integration.timeline_contract import START, T, World, build_world, customers, touchpoints

pytestmark = pytest.mark.integration
EVERYTHING = TimelineQuery(limit=500)


class Both(World):
    def erase(self, tenant: str, people: list[str]) -> None:
        Erasures().apply(self.store, [(tenant, people, 2**40)], lambda name: name)
        self.index.erase(tenant, people)


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[ProjectionStore, ServingIndex]]:
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    apply_migrations(store)
    index = ServingIndex(tmp_path / "serving.sqlite3")
    try:
        yield store, index
    finally:
        index.close()
        store.close()


def awkward_rows(both: tuple[ProjectionStore, ServingIndex], rng: random.Random) -> Both:
    world = build_world(*both, rng)
    return Both(world.store, world.index, world.rows, world.people, world.other, world.links)


def pages(read: Any, ids: tuple[str, ...], limit: int) -> list[list[str]]:
    """Every page's event ids, following the cursors to the end."""
    found, after = [], None
    while True:
        page = read(T, ids, TimelineQuery(limit=limit, after=after))
        found.append([e["event_id"] for e in page.entries])
        if page.next_after is None:
            return found
        after = page.next_after


def test_an_erasure_removes_the_timeline_from_both(
    both: tuple[ProjectionStore, ServingIndex],
) -> None:
    made = awkward_rows(both, random.Random(5))
    gone, kept = made.people[6], made.people[7]
    made.erase(T, [gone])
    assert made.index.timeline(T, (gone,), EVERYTHING).entries == []
    assert reads.timeline(made.store, T, (gone,), EVERYTHING).entries == []
    kept_page = made.index.timeline(T, (kept,), EVERYTHING)
    assert kept_page == reads.timeline(made.store, T, (kept,), EVERYTHING)
    assert kept_page.entries


def test_a_rebuild_from_the_store_equals_the_index_written_beside_it(
    both: tuple[ProjectionStore, ServingIndex], tmp_path: Path
) -> None:
    made = awkward_rows(both, random.Random(6))
    rebuilt = ServingIndex(tmp_path / "rebuilt.sqlite3")
    try:
        assert not rebuilt.mirrors(made.store)
        assert rebuilt.rebuild(made.store) > 0
        assert rebuilt.mirrors(made.store) and rebuilt.ready
        for person in made.people:
            resolution = rebuilt.resolve(T, uuid.UUID(person))
            assert resolution is not None
            assert resolution == made.index.resolve(T, uuid.UUID(person))
            assert pages(rebuilt.timeline, resolution.ids, 9) == pages(
                made.index.timeline, resolution.ids, 9
            )
        assert not made.index.mirrors(made.store)  # one generation mirrors the store: the last
    finally:
        rebuilt.close()


def test_a_change_made_without_the_index_unmarks_it_and_the_mirror_rebuilds(
    both: tuple[ProjectionStore, ServingIndex],
) -> None:
    made = awkward_rows(both, random.Random(8))
    made.index.rebuild(made.store)
    mirror = IndexMirror(made.index, made.store, threading.Lock())
    mirror.start()  # the marks agree: used as it is
    assert made.index.ready and made.index.state == "ready"
    late = str(uuid.uuid4())
    forget_mark(made.store)  # what a replay's swap, or a projector without the index, does
    made.store.insert_arrow("touchpoints", touchpoints([(T, made.people[7], START, late, 2)]), None)
    assert not made.index.mirrors(made.store)
    mirror.start()
    assert made.index.ready and made.index.mirrors(made.store)
    newest = {e["event_id"] for e in made.index.timeline(T, (made.people[7],), EVERYTHING).entries}
    assert late in newest


def test_an_index_file_of_another_layout_starts_empty_and_is_rebuilt(
    both: tuple[ProjectionStore, ServingIndex], tmp_path: Path
) -> None:
    made = awkward_rows(both, random.Random(10))
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:  # what an older Touchline left: other columns, its own mark
        db.execute("CREATE TABLE entries (tenant TEXT, customer_id TEXT, occurred_ms INTEGER)")
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('generation', 'g-old')")
        db.execute("PRAGMA user_version = 1")
    made.store.command("INSERT INTO serving_index_marks (generation) VALUES ('g-old')")
    index = ServingIndex(old)
    try:
        assert index.generation() is None and not index.mirrors(made.store)
        index.rebuild(made.store)
        person = made.people[7]
        assert index.timeline(T, (person,), EVERYTHING) == reads.timeline(
            made.store, T, (person,), EVERYTHING
        )
    finally:
        index.close()


def test_ids_in_upper_case_are_read_as_the_store_writes_them(
    both: tuple[ProjectionStore, ServingIndex],
) -> None:
    store, index = both
    person, event = str(uuid.uuid4()), str(uuid.uuid4())
    for table, rows in (("touchpoints", touchpoints([(T, person.upper(), START, event.upper(), 0)])),
                        ("customers", customers(T, [person.upper()]))):  # fmt: skip
        store.insert_arrow(table, rows, None)
        index.apply(table, rows)
    resolution = index.resolve(T, uuid.UUID(person))
    assert resolution is not None and resolution.ids == (person,)
    found = index.timeline(T, resolution.ids, EVERYTHING)
    assert found == reads.timeline(store, T, resolution.ids, EVERYTHING)
    assert [e["event_id"] for e in found.entries] == [event]
