"""An erased customer disappears from the projections, and stays gone.

Real record bodies (intake, identity and engagement stages in-process) are
projected into chDB; an erasure command goes through the identity stage;
the projector's erasure step then removes the person's timeline, scores and
RFM rows, unlinks their identifiers, and drops a late touchpoint resolved to
them before the erasure. Another customer's rows are untouched.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from events.topics import CUSTOMERS, RESOLVED, SCORES
from projections.migrations import apply_migrations
from projections.projector import Erasures, tables_for
from projections.replay import Checksum, checksum
from projections.store import ProjectionStore, open_projection_store
from services.identity.commands import erase_command, merge_command
from services.review.queue import SCHEMA, ReviewQueue, suggestion_id
from tests.unit.test_projection_rows import Pipeline, T, envelope

pytestmark = pytest.mark.integration


def project(store: ProjectionStore, pipeline: Pipeline, topic: str, start: int = 0) -> int:
    records = pipeline.records(topic)[start:]
    for table, arrow in tables_for(topic, records).items():
        store.insert_arrow(table, arrow, None)
    return len(pipeline.records(topic))


def count(store: ProjectionStore, table: str, customer: str) -> int:
    return int(store.query_rows(
        f"SELECT count() FROM {table} WHERE tenant = {{t:String}} AND customer_id = {{c:UUID}}",
        {"t": T, "c": customer})[0][0])  # fmt: skip


def test_an_erasure_removes_the_person_and_keeps_them_out(tmp_path: Path) -> None:
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        apply_migrations(store)
        pipeline = Pipeline()
        pipeline.send([
            envelope("chat.started", "2026-02-01T10:00:00Z", {"email": "gone@x.io"}, chat_id="c1"),
            envelope("chat.started", "2026-02-02T10:00:00Z", {"email": "gone@x.io", "phone": "+14155550199"}, chat_id="c2"),
            envelope("chat.started", "2026-02-03T10:00:00Z", {"email": "stays@x.io"}, chat_id="c3"),
        ])  # fmt: skip
        seen = {topic: project(store, pipeline, topic) for topic in (RESOLVED, CUSTOMERS, SCORES)}
        owners = {b["identities"]["email"]: b["customer_id"] for b in pipeline.bodies(RESOLVED)}
        gone, stays = owners["gone@x.io"], owners["stays@x.io"]
        assert (
            count(store, "touchpoints", gone) == 2 and count(store, "engagement_scores", gone) > 0
        )
        late = pipeline.records(RESOLVED)[0]  # resolved to them before the erasure, arriving after

        pipeline.command(erase_command(T, "gdpr request 9", kind="email", value="gone@x.io"))
        customers = pipeline.records(CUSTOMERS)[seen[CUSTOMERS] :]
        project(store, pipeline, CUSTOMERS, seen[CUSTOMERS])
        erasures = Erasures()
        found = erasures.found_in(customers)
        assert [people[0] for _, people, _ in found] == [gone]
        erasures.apply(store, found, lambda name: name)

        for table in ("touchpoints", "engagement_scores", "engagement_current", "rfm"):
            assert count(store, table, gone) == 0, table
        assert count(store, "touchpoints", stays) == 1
        linked = store.query_rows(
            "SELECT kind, argMax(linked, version) FROM identities WHERE tenant = {t:String} "
            "AND customer_id = {c:UUID} GROUP BY kind, value ORDER BY kind", {"t": T, "c": gone})  # fmt: skip
        assert linked == []  # their identifier rows are deleted, not only unlinked
        values = store.query_rows("SELECT count() FROM identities WHERE tenant = {t:String} "
                                  "AND value IN ('gone@x.io', '+14155550199')", {"t": T})  # fmt: skip
        assert values == [(0,)]
        assert erasures.covers(late)

        reloaded = Erasures()
        reloaded.load(store, lambda name: name)  # a restarted projector (or a replay) knows too
        assert reloaded.covers(late) and not reloaded.covers(pipeline.records(RESOLVED)[2])
    finally:
        store.close()


def test_the_checksum_of_an_empty_projection_is_zero(tmp_path: Path) -> None:
    """Everyone erased (or nothing projected yet): a replay's checksum, not a TypeError."""
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        apply_migrations(store)
        assert checksum(store, "touchpoints") == Checksum(0, 0)
    finally:
        store.close()


def test_an_erasure_removes_the_merge_history_and_the_suggestions_naming_them(
    tmp_path: Path,
) -> None:
    store = open_projection_store(f"chdb://{tmp_path / 'clickhouse'}")
    try:
        apply_migrations(store)
        pipeline = Pipeline()
        pipeline.send([
            envelope("chat.started", "2026-02-01T10:00:00Z", {"email": "mg1@x.io"}, chat_id="c1"),
            envelope("chat.started", "2026-02-02T10:00:00Z", {"email": "mg2@x.io"}, chat_id="c2"),
            envelope("chat.started", "2026-02-03T10:00:00Z", {"email": "mg3@x.io"}, chat_id="c3"),
        ])  # fmt: skip
        gone, alias, stays = (b["customer_id"] for b in pipeline.bodies(RESOLVED))
        pipeline.command(merge_command(T, gone, alias, "Ms Mori said so on the phone", "s:k1"))
        seen = project(store, pipeline, CUSTOMERS)
        queue = ReviewQueue(store)
        pair = tuple(sorted((gone, stays)))
        store.insert_arrow("duplicate_suggestions", pa.Table.from_pylist([{
            "tenant": T, "customer_a": pair[0], "customer_b": pair[1],
            "suggestion_id": suggestion_id(T, *pair), "score": 0.7, "rules": ["name_postal"],
            "evidence": "[]", "status": "open", "found_at": 0, "decided_by": "",
            "decided_at": None, "command_id": "", "note": "", "version": 1}], schema=SCHEMA))  # fmt: skip
        assert count(store, "customer_merges", gone) == 1 and queue.get(T, suggestion_id(T, *pair))

        pipeline.command(erase_command(T, "gdpr request 10", customer_id=gone))
        customers = pipeline.records(CUSTOMERS)[seen:]
        project(store, pipeline, CUSTOMERS, seen)
        erasures = Erasures()
        erasures.apply(store, erasures.found_in(customers), lambda name: name)
        assert count(store, "customer_merges", gone) == 0
        assert queue.get(T, suggestion_id(T, *pair)) is None
        said = store.query_rows("SELECT count() FROM customer_merges WHERE reason LIKE '%Mori%'")
        assert said == [(0,)]
    finally:
        store.close()
