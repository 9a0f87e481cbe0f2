"""The serving index answers exactly what the store answers, for the same rows.

One chDB store and one index receive the same Arrow tables (as the projector
writes them); then every customer's resolution, and many timeline queries
(filters, time ranges, whole paginations through cursors), are asked of both.
The rows are made to be awkward: events sharing a millisecond, an event
under an alias and under its survivor, an alias re-pointed when its survivor
merged in turn, a repeated row, and an erasure.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from projections import reads
from projections.migrations import apply_migrations
from projections.projector import Erasures
from projections.serving_index import IndexMirror, ServingIndex, forget_mark
from projections.store import ProjectionStore, open_projection_store
from services.query.app import _fact, _json_bytes

pytestmark = pytest.mark.integration

T = "acme"
START = datetime(2026, 3, 1, tzinfo=UTC)
KINDS = [("phone", "call.completed"), ("email", "email.opened"), ("chat", "chat.started"),
         ("store", "purchase.completed")]  # fmt: skip


def touchpoints(rows: list[tuple[str, str, datetime, str, int]]) -> pa.Table:
    """(tenant, customer, occurred_at, event_id, kind index) as the projector's table."""
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


class Both:
    """A store and an index fed the same tables, as the projector feeds them."""

    def __init__(self, store: ProjectionStore, index: ServingIndex) -> None:
        self.store, self.index = store, index

    def write(self, table: str, rows: pa.Table) -> None:
        self.store.insert_arrow(table, rows, None)
        self.index.apply(table, rows)

    def erase(self, tenant: str, people: list[str]) -> None:
        Erasures().apply(self.store, [(tenant, people, 2**40)], lambda name: name)
        self.index.erase(tenant, people)


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Both]:
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    apply_migrations(store)
    index = ServingIndex(tmp_path / "serving.sqlite3")
    try:
        yield Both(store, index)
    finally:
        index.close()
        store.close()


def awkward_rows(both: Both, rng: random.Random) -> dict[str, list[str]]:
    """Customers with timelines that stress the order, the cursors and the merges."""
    people = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(8)]
    other_tenant = str(uuid.uuid4())
    rows: list[tuple[str, str, datetime, str, int]] = []
    for person in people:
        for _ in range(rng.randrange(20, 90)):
            at = START + timedelta(milliseconds=rng.randrange(0, 40) * 250)  # many equal times
            rows.append((T, person, at, str(uuid.uuid4()), rng.randrange(len(KINDS))))
    shared = str(uuid.uuid4())  # one event under an alias and under its survivor
    rows += [(T, people[1], START, shared, 0), (T, people[0], START, shared, 0)]
    rows.append(rows[0])  # a repeated row: folded by the key, as ReplacingMergeTree does
    rows.append(("other", other_tenant, START, str(uuid.uuid4()), 1))
    rng.shuffle(rows)
    half = len(rows) // 2
    both.write("touchpoints", touchpoints(rows[:half]))  # two flushes
    both.write("touchpoints", touchpoints(rows[half:]))
    both.write("customers", customers(T, people))
    both.write("customers", customers("other", [other_tenant]))
    # 1 and 2 merge into 0; 3 into 4, which later merges into 5: 3 is re-pointed to 5
    both.write("customer_aliases", aliases(T, [(people[1], people[0], 2), (people[2], people[0], 2),
                                               (people[3], people[4], 2)]))  # fmt: skip
    both.write("customer_aliases", aliases(T, [(people[4], people[5], 3), (people[3], people[5], 3),
                                               (people[2], people[6], 1)]))  # fmt: skip
    return {"people": people, "other": [other_tenant], "shared": [shared]}


def test_resolutions_match_the_store(both: Both) -> None:
    made = awkward_rows(both, random.Random(7))
    asked = [*made["people"], str(uuid.uuid4())]
    for tenant in (T, "other"):
        for person in [*asked, *made["other"]]:
            expected = reads.resolve(both.store, tenant, uuid.UUID(person))
            found = both.index.resolve(tenant, uuid.UUID(person))
            if expected is None:
                assert found is None, person
            else:
                assert found is not None, person
                assert found.survivor == expected.survivor
                assert sorted(found.ids) == sorted(expected.ids)
    people = made["people"]  # the merges the rows describe
    assert both.index.resolve(T, uuid.UUID(people[3])).survivor == uuid.UUID(people[5])  # type: ignore[union-attr]
    assert both.index.resolve(T, uuid.UUID(people[2])).survivor == uuid.UUID(people[0])  # type: ignore[union-attr]


def pages(
    read: Any, ids: tuple[str, ...], shared: str = "", **query: Any
) -> list[list[dict[str, Any]]]:
    """Every page of one timeline query, following the cursors to the end.

    Of an event stored under two ids, ClickHouse's ``LIMIT 1 BY`` keeps either
    copy (they tie on the sort key): ``shared`` names that event, whose
    ``recorded_under`` is then left out. (The projector's dedup stage keeps
    such copies out of the tables; the rows here put one in on purpose.)
    """
    found, after = [], None
    while True:
        page = read(T, ids, after=after, **query)
        found.append([{k: v for k, v in e.items() if k != "recorded_under"}
                      if e["event_id"] == shared else e for e in page.entries])  # fmt: skip
        if page.next_after is None:
            return found
        after = page.next_after


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_timelines_and_their_pages_match_the_store(both: Both, seed: int) -> None:
    rng = random.Random(seed)
    made = awkward_rows(both, rng)
    queries: list[dict[str, Any]] = [
        {"limit": 7}, {"limit": 50}, {"limit": 1}, {"limit": 5, "channels": ["phone", "chat"]},
        {"limit": 4, "types": ["email.opened"]},
        {"limit": 6, "since": START + timedelta(seconds=2), "until": START + timedelta(seconds=7)},
    ]  # fmt: skip
    compared = 0
    for person in made["people"]:
        resolution = reads.resolve(both.store, T, uuid.UUID(person))
        assert resolution is not None
        for query in queries:
            expected = pages(lambda *a, **k: reads.timeline(both.store, *a, **k),
                             resolution.ids, made["shared"][0], **query)  # fmt: skip
            found = pages(both.index.timeline, resolution.ids, made["shared"][0], **query)
            assert found == expected, (person, query)
            compared += sum(map(len, found))
    assert compared > 500


def test_the_first_read_is_the_page_the_api_writes(both: Both) -> None:
    """``head``: each entry's JSON as the API writes it, and its facts (id, channel, type,
    version, time in epoch ms) for filters and cursors."""
    made = awkward_rows(both, random.Random(9))
    for person in made["people"]:
        resolution = both.index.resolve(T, uuid.UUID(person))
        assert resolution is not None
        for limit in (5, 500):
            store = reads.timeline(both.store, T, resolution.ids, limit=limit)
            texts, facts, complete = both.index.head(T, resolution.ids, limit)
            shared = made["shared"][0]
            assert [_without(orjson.loads(t), shared) for t in texts] == [
                _without(orjson.loads(_json_bytes(e)), shared) for e in store.entries
            ]
            assert facts == [_fact(e) for e in store.entries]
            assert complete == (store.next_after is None)


def _without(entry: dict[str, Any], shared: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "recorded_under" or entry["event_id"] != shared}


def test_the_survivor_reads_an_event_under_two_ids_once(both: Both) -> None:
    made = awkward_rows(both, random.Random(4))
    survivor = both.index.resolve(T, uuid.UUID(made["people"][0]))
    assert survivor is not None and len(survivor.ids) == 3
    ids = [
        e["event_id"] for page in pages(both.index.timeline, survivor.ids, limit=3) for e in page
    ]
    assert len(ids) == len(set(ids))
    assert ids.count(made["shared"][0]) == 1


def test_an_erasure_removes_the_timeline_from_both(both: Both) -> None:
    made = awkward_rows(both, random.Random(5))
    gone, kept = made["people"][6], made["people"][7]
    both.erase(T, [gone])
    assert both.index.timeline(T, (gone,)).entries == []
    assert reads.timeline(both.store, T, (gone,)).entries == []
    assert both.index.timeline(T, (kept,)) == reads.timeline(both.store, T, (kept,))
    assert both.index.timeline(T, (kept,)).entries


def test_a_rebuild_from_the_store_equals_the_index_written_beside_it(
    both: Both, tmp_path: Path
) -> None:
    made = awkward_rows(both, random.Random(6))
    rebuilt = ServingIndex(tmp_path / "rebuilt.sqlite3")
    try:
        assert not rebuilt.mirrors(both.store)
        assert rebuilt.rebuild(both.store) > 0
        assert rebuilt.mirrors(both.store) and rebuilt.ready
        for person in made["people"]:
            resolution = rebuilt.resolve(T, uuid.UUID(person))
            assert resolution is not None
            assert resolution == both.index.resolve(T, uuid.UUID(person))
            assert pages(rebuilt.timeline, resolution.ids, limit=9) == pages(
                both.index.timeline, resolution.ids, limit=9
            )
        assert not both.index.mirrors(both.store)  # one generation mirrors the store: the last
    finally:
        rebuilt.close()


def test_a_change_made_without_the_index_unmarks_it_and_the_mirror_rebuilds(both: Both) -> None:
    made = awkward_rows(both, random.Random(8))
    both.index.rebuild(both.store)
    mirror = IndexMirror(both.index, both.store, threading.Lock())
    mirror.start()  # the marks agree: used as it is
    assert both.index.ready and both.index.state == "ready"
    late = str(uuid.uuid4())
    forget_mark(both.store)  # what a replay's swap, or a projector without the index, does
    both.store.insert_arrow(
        "touchpoints", touchpoints([(T, made["people"][7], START, late, 2)]), None
    )
    assert not both.index.mirrors(both.store)
    mirror.start()
    assert both.index.ready and both.index.mirrors(both.store)
    newest = {
        e["event_id"] for e in both.index.timeline(T, (made["people"][7],), limit=500).entries
    }
    assert late in newest


def test_an_index_file_of_another_layout_starts_empty_and_is_rebuilt(
    both: Both, tmp_path: Path
) -> None:
    made = awkward_rows(both, random.Random(10))
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:  # what an older Touchline left: other columns, its own mark
        db.execute("CREATE TABLE entries (tenant TEXT, customer_id TEXT, occurred_ms INTEGER)")
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('generation', 'g-old')")
        db.execute("PRAGMA user_version = 1")
    both.store.command("INSERT INTO serving_index_marks (generation) VALUES ('g-old')")
    index = ServingIndex(old)
    try:
        assert index.generation() is None and not index.mirrors(both.store)
        index.rebuild(both.store)
        person = made["people"][7]
        assert index.timeline(T, (person,)) == reads.timeline(both.store, T, (person,))
    finally:
        index.close()


def test_ids_in_upper_case_are_read_as_the_store_writes_them(both: Both) -> None:
    person, event = str(uuid.uuid4()), str(uuid.uuid4())
    both.write("touchpoints", touchpoints([(T, person.upper(), START, event.upper(), 0)]))
    both.write("customers", customers(T, [person.upper()]))
    resolution = both.index.resolve(T, uuid.UUID(person))
    assert resolution is not None and resolution.ids == (person,)
    found = both.index.timeline(T, resolution.ids)
    assert found == reads.timeline(both.store, T, resolution.ids)
    assert [e["event_id"] for e in found.entries] == [event]
