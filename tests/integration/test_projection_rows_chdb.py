"""The mapped tables go into the real schema on chDB: types accepted, values read back.

The bodies come from the stages themselves (``Pipeline`` in the unit tests),
so a column whose Arrow type the DDL refuses, or a value ClickHouse parses
differently (UUIDs as text, timestamps, maps, decimals), fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from projections.migrations import apply_migrations
from projections.rows import (
    SourceRecord,
    customer_rows,
    deadletter_rows,
    score_rows,
    touchpoint_rows,
)
from projections.store import ProjectionStore, open_projection_store
from services.engagement.model import DAY_MS, Fact, summarize
from services.identity.commands import erase_command
from tests.integration.projection_contract import timeline
from tests.unit.test_projection_rows import Pipeline, T, envelope, visit


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectionStore]:
    path: Path = tmp_path_factory.mktemp("rows-chdb")
    store = open_projection_store(f"chdb://{path}")
    apply_migrations(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    """A merge chain (B -> A -> C), an unsubscribe, a junk-only event, then an erasure of D."""
    p = Pipeline()
    p.send([visit("2026-02-10T10:00:00Z", email="a@x.io"),
            visit("2026-02-11T10:00:00Z", phone="+14155552671"),
            envelope("purchase.completed", "2026-02-11T11:00:00Z", {"phone": "+14155552671"},
                     order_id="o1", total=12800, currency="JPY", store_id="shibuya"),
            envelope("email.unsubscribed", "2026-02-11T12:00:00Z", {"email": "d@x.io"}),
            envelope("chat.started", "2026-02-11T13:00:00Z", {"email": "test@example.com"},
                     chat_id="c1")])  # fmt: skip
    p.send([visit("2026-02-12T10:00:00Z", email="a@x.io", phone="+14155552671")])
    p.send([visit("2026-02-01T10:00:00Z", customer_ref="crm-1")])
    p.send([visit("2026-02-13T10:00:00Z", customer_ref="crm-1", email="a@x.io")])
    p.command(erase_command(T, "GDPR request", kind="email", value="d@x.io"))
    return p


def insert_all(store: ProjectionStore, pipeline: Pipeline) -> dict[str, int]:
    tables = {
        "touchpoints": touchpoint_rows(pipeline.records(RESOLVED)),
        **customer_rows(pipeline.records(CUSTOMERS)),
        **score_rows(pipeline.records(SCORES)),
        "deadletter": deadletter_rows(pipeline.records(DEADLETTER)),
    }
    return {name: store.insert_arrow(name, table) for name, table in tables.items()}


def test_every_mapped_table_inserts_and_reads_back(
    store: ProjectionStore, pipeline: Pipeline
) -> None:
    written = insert_all(store, pipeline)
    assert all(n > 0 for n in written.values()), written
    for table, n in written.items():
        [(count,)] = store.query_rows(
            f"SELECT count() FROM {table} WHERE tenant = {{t:String}}", {"t": T}
        )
        # ReplacingMergeTree folds rows with one key already within an insert block
        assert count == n if table in ("engagement_scores", "deadletter") else 0 < count <= n

    [(summary, payload, identities, customer)] = store.query_rows(
        "SELECT summary, payload, identities, customer_id FROM touchpoints"
        " WHERE tenant = {t:String} AND type = 'purchase.completed'",
        {"t": T},
    )
    assert summary == "Bought 12,800 JPY at shibuya"  # a v1 purchase, read upcast
    assert orjson.loads(payload)["amount"] == "12800"
    assert identities == [("phone", "+14155552671")]
    assert isinstance(customer, uuid.UUID)

    as_of = 1_772_000_000_000
    published = summarize(
        [Fact("purchase.completed", "store", as_of - 3 * DAY_MS, "1234.56785")], as_of
    )
    customer = str(uuid.uuid4())
    body = {"tenant": T, "customer_id": customer, **published}
    record = SourceRecord(SCORES, 0, 0, None, orjson.dumps(body), as_of)
    for name, table in score_rows([record]).items():
        store.insert_arrow(name, table)
    [row] = store.query_rows(
        "SELECT monetary, frequency, recency_days, segment, churn_risk, as_of FROM rfm"
        " WHERE tenant = {t:String} AND customer_id = {c:UUID}",
        {"t": T, "c": customer},
    )
    assert row == (Decimal("1234.5678"), 1, 3.0, "new", "unknown",
                   datetime.fromtimestamp(as_of / 1000, UTC))  # fmt: skip

    [(reason, dead_tenant)] = store.query_rows(
        "SELECT reason, tenant FROM deadletter WHERE stage = 'identity' AND tenant = {t:String}",
        {"t": T},
    )
    assert reason.startswith("no usable identifier") and dead_tenant == T


def test_the_survivors_timeline_reads_through_the_alias_chain(
    store: ProjectionStore, pipeline: Pipeline
) -> None:
    survivor, current = store.query_rows(
        "SELECT toString(argMax(survivor_id, version)), count() FROM customer_aliases"
        " WHERE tenant = {t:String} GROUP BY survivor_id",
        {"t": T},
    )[0]
    visits = store.query_rows(
        "SELECT toString(event_id) FROM touchpoints WHERE tenant = {t:String}"
        " AND type = 'store.visited'",
        {"t": T},
    )
    assert set(timeline(store, T, survivor)) >= {e for (e,) in visits}
    assert current >= 2  # B and A, both now pointing at C

    [(email_owner,)] = store.query_rows(
        "SELECT toString(argMax(customer_id, version)) FROM identities"
        " WHERE tenant = {t:String} AND kind = 'email' AND value = 'a@x.io'",
        {"t": T},
    )
    assert email_owner == survivor

    erased = store.query_rows(
        "SELECT argMax(erased, version), argMax(identities, version), argMax(consent, version),"
        " argMax(first_seen, version) FROM customers WHERE tenant = {t:String}"
        " GROUP BY customer_id HAVING argMax(erased, version)",
        {"t": T},
    )
    assert erased == [(True, [], [], datetime(2026, 2, 11, 12, tzinfo=UTC))]
