"""One contract for every projection store: chDB and a ClickHouse server run the same tests.

Subclasses provide ``store_url`` (class-scoped: a chDB process holds one data
directory, and migrating once keeps the suite fast). Every test writes under
its own tenant, so a shared database is fine and tests do not see each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from projections.migrations import MigrationError, apply_migrations, load_migrations
from projections.store import ProjectionStore, ProjectionStoreError, open_projection_store
from services.engagement.model import Fact, summarize

T0 = datetime(2026, 3, 1, 9, 0, 0, 123000, tzinfo=UTC)
TABLES = {
    "touchpoints", "customers", "customer_aliases", "identities", "engagement_scores",
    "engagement_current", "rfm", "daily_touchpoints", "daily_active_customers", "email_funnel",
    "deadletter", "projection_status", "schema_migrations",
}  # fmt: skip

TOUCHPOINT_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("customer_id", pa.string()),
        ("occurred_at", pa.timestamp("ms", tz="UTC")),
        ("event_id", pa.string()),
        ("channel", pa.string()),
        ("type", pa.string()),
        ("schema_version", pa.uint16()),
        ("summary", pa.string()),
        ("payload", pa.string()),
        ("identities", pa.map_(pa.string(), pa.string())),
        ("identity_flags", pa.list_(pa.string())),
        ("received_at", pa.timestamp("ms", tz="UTC")),
        ("source", pa.string()),
        ("kafka_partition", pa.uint16()),
        ("kafka_offset", pa.uint64()),
    ]
)


CHANNELS = {"call": "phone", "chat": "chat", "email": "email", "purchase": "store"}


def touchpoint(
    tenant: str, customer_id: str, at: datetime, type_: str = "chat.started", **extra: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tenant": tenant,
        "customer_id": customer_id,
        "occurred_at": at,
        "event_id": str(uuid.uuid4()),
        "channel": CHANNELS[type_.split(".")[0]],
        "type": type_,
        "schema_version": 1,
        "summary": f"{type_} at {at:%H:%M}",
        "payload": "{}",
        "identities": [("email", "a@x.io")],
        "identity_flags": [],
        "received_at": at + timedelta(seconds=1),
        "source": "contract",
        "kafka_partition": 0,
        "kafka_offset": 0,
    }
    row.update(extra)
    return row


def touchpoints_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=TOUCHPOINT_SCHEMA)


def count(store: ProjectionStore, table: str, tenant: str) -> int:
    [(n,)] = store.query_rows(
        f"SELECT count() FROM {table} WHERE tenant = {{t:String}}", {"t": tenant}
    )
    return int(n)


def timeline(store: ProjectionStore, tenant: str, customer_id: str, limit: int = 50) -> list[str]:
    """The agent's read: the survivor's events and its aliases', newest first, each event once."""
    rows = store.query_rows(
        """
        SELECT toString(event_id) FROM touchpoints
        WHERE tenant = {tenant:String}
          AND customer_id IN (
              SELECT {customer:UUID}
              UNION ALL
              SELECT alias_id FROM customer_aliases WHERE tenant = {tenant:String}
              GROUP BY alias_id HAVING argMax(survivor_id, version) = {customer:UUID})
        ORDER BY occurred_at DESC, event_id DESC
        LIMIT 1 BY event_id
        LIMIT {limit:UInt32}
        """,
        {"tenant": tenant, "customer": customer_id, "limit": limit},
    )
    return [event_id for (event_id,) in rows]


def by_time_desc(rows: list[dict[str, Any]]) -> list[str]:
    """Newest first; at one instant, by event_id as ClickHouse orders UUIDs (descending)."""
    ordered = sorted(
        rows, key=lambda r: (r["occurred_at"], uuid_order(r["event_id"])), reverse=True
    )
    return [r["event_id"] for r in ordered]


def uuid_order(text: str) -> tuple[int, int]:
    """ClickHouse compares UUIDs by their second 64-bit half first (measured on 26.9), not as text."""
    value = uuid.UUID(text).int
    return value & (2**64 - 1), value >> 64


class ProjectionStoreContract:
    @pytest.fixture(scope="class")
    @classmethod
    def store_url(cls) -> Iterator[str]:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, store_url: str) -> Iterator[ProjectionStore]:
        store = open_projection_store(store_url)
        apply_migrations(store)
        yield store
        store.close()

    @pytest.fixture
    def tenant(self) -> str:
        return f"t{uuid.uuid4().hex[:10]}"

    def test_migrations_apply_twice_without_change(self, store: ProjectionStore) -> None:
        ddl = "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() ORDER BY name"
        before = store.query_rows(ddl)
        assert apply_migrations(store) == []
        assert store.query_rows(ddl) == before
        assert {name for name, _ in before} >= TABLES
        recorded = store.query_rows(
            "SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version ORDER BY version"
        )
        on_disk = [(m.version, m.checksum) for m in load_migrations()]
        assert [r for r in recorded if r[0] in dict(on_disk)] == on_disk

    def test_a_changed_migration_is_refused(self, store: ProjectionStore, tmp_path: Path) -> None:
        version = 9000 + uuid.uuid4().int % 999  # far from real versions; removed below
        table = f"contract_{uuid.uuid4().hex[:8]}"
        path = tmp_path / f"{version:04d}_contract.sql"
        path.write_text(
            f"CREATE TABLE IF NOT EXISTS {table} (k UInt8) ENGINE = MergeTree ORDER BY k;\n"
        )
        try:
            assert [m.version for m in apply_migrations(store, tmp_path)] == [version]
            assert apply_migrations(store, tmp_path) == []
            path.write_text(path.read_text() + "-- edited\n")
            with pytest.raises(MigrationError, match="changed after it was applied"):
                apply_migrations(store, tmp_path)
        finally:
            store.command(f"DROP TABLE IF EXISTS {table}")
            store.command(
                "DELETE FROM schema_migrations WHERE version = {v:UInt32}", {"v": version}
            )

    def test_insert_arrow_then_read_back(self, store: ProjectionStore, tenant: str) -> None:
        row = touchpoint(
            tenant, str(uuid.uuid4()), T0, "call.completed",
            payload='{"call_id":"c-1","agent":"Satō","note":"it\'s \\"fine\\""}',
            identities=[("phone", "+14155552671"), ("email", "a@x.io")],
            identity_flags=["kind_cap_reached"], kafka_partition=7, kafka_offset=2**40,
        )  # fmt: skip
        assert store.insert_arrow("touchpoints", touchpoints_table([row])) == 1
        [back] = store.query_rows(
            "SELECT tenant, customer_id, occurred_at, event_id, channel, type, payload, identities,"
            " identity_flags, received_at, kafka_partition, kafka_offset, correlation_id,"
            " projected_at >= received_at FROM touchpoints WHERE tenant = {t:String}",
            {"t": tenant},
        )
        assert back == (
            tenant, uuid.UUID(row["customer_id"]), T0, uuid.UUID(row["event_id"]), "phone",
            "call.completed", row["payload"], [("phone", "+14155552671"), ("email", "a@x.io")],
            ["kind_cap_reached"], T0 + timedelta(seconds=1), 7, 2**40, "", True,
        )  # fmt: skip

    def test_same_dedup_token_twice_gives_one_copy(
        self, store: ProjectionStore, tenant: str
    ) -> None:
        customer = str(uuid.uuid4())
        batch = [touchpoint(tenant, customer, T0 + timedelta(minutes=i)) for i in range(3)]
        token = f"touchpoints.resolved|0|{tenant}|0-2"
        store.insert_arrow("touchpoints", touchpoints_table(batch), dedup_token=token)
        # A re-delivery after a crash: same token; even different rows are dropped.
        store.insert_arrow("touchpoints", touchpoints_table(batch), dedup_token=token)
        other = [touchpoint(tenant, customer, T0)]
        store.insert_arrow("touchpoints", touchpoints_table(other), dedup_token=token)
        assert count(store, "touchpoints", tenant) == 3
        [(events,)] = store.query_rows(
            "SELECT sum(events) FROM daily_touchpoints WHERE tenant = {t:String}", {"t": tenant}
        )
        assert events == 3  # the aggregate view dropped the re-delivery too
        store.insert_arrow("touchpoints", touchpoints_table(batch), dedup_token=token + "'next")
        assert count(store, "touchpoints", tenant) == 6  # a new token is a new insert

    def test_parameters_are_bound_not_spliced(self, store: ProjectionStore) -> None:
        tricky = "it's a \\ back\nslash\t{x:String} ' OR 1=1 -- 東京"
        at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        ids = [uuid.uuid4(), uuid.uuid4()]
        [row] = store.query_rows(
            "SELECT {s:String}, length({s:String}), {n:Int64} + 1, {f:Float64}, {flag:Bool},"
            " {missing:Nullable(String)} IS NULL, {at:DateTime64(3, 'UTC')}, {day:Date},"
            " {names:Array(String)}, has({ids:Array(UUID)}, {id:UUID})",
            {"s": tricky, "n": 2**40, "f": 0.25, "flag": False, "missing": None, "at": at,
             "day": date(2026, 1, 2), "names": ["a'b", "c\\d", ""], "id": ids[1], "ids": ids},
        )  # fmt: skip
        assert row == (
            tricky, len(tricky.encode()), 2**40 + 1, 0.25, False, True, at, date(2026, 1, 2),
            ["a'b", "c\\d", ""], True,
        )  # fmt: skip

    def test_an_injection_attempt_matches_nothing(
        self, store: ProjectionStore, tenant: str
    ) -> None:
        store.insert_arrow(
            "touchpoints", touchpoints_table([touchpoint(tenant, str(uuid.uuid4()), T0)])
        )
        assert count(store, "touchpoints", tenant) == 1
        assert count(store, "touchpoints", f"{tenant}' OR '1'='1") == 0

    def test_timeline_reads_newest_first_with_aliases(
        self, store: ProjectionStore, tenant: str
    ) -> None:
        survivor, alias, stranger = (str(uuid.uuid4()) for _ in range(3))
        mine = [touchpoint(tenant, survivor, T0 + timedelta(hours=h)) for h in (5, 1, 3)]
        # Five more at one instant: event_id must give them one fixed order (pagination relies on it).
        mine += [touchpoint(tenant, survivor, T0 + timedelta(hours=3)) for _ in range(5)]
        merged = [touchpoint(tenant, alias, T0 + timedelta(hours=h)) for h in (4, 0)]
        others = [touchpoint(tenant, stranger, T0 + timedelta(hours=2)),
                  touchpoint(f"{tenant}x", survivor, T0 + timedelta(hours=6))]  # fmt: skip
        store.insert_arrow("touchpoints", touchpoints_table(mine + merged + others))
        # A duplicate that escaped the token (a batch cut differently) shows once.
        store.insert_arrow(
            "touchpoints", touchpoints_table(mine[:1]), dedup_token=str(uuid.uuid4())
        )
        assert timeline(store, tenant, survivor) == by_time_desc(mine)
        store.insert_arrow("customer_aliases", pa.Table.from_pylist([{
            "tenant": tenant, "alias_id": alias, "survivor_id": survivor, "version": 3,
            "reason": f"{tenant}|email:a@x.io", "cause_event_id": merged[0]["event_id"], "merged_at": T0,
        }], schema=pa.schema([("tenant", pa.string()), ("alias_id", pa.string()),
                              ("survivor_id", pa.string()), ("version", pa.uint64()),
                              ("reason", pa.string()), ("cause_event_id", pa.string()),
                              ("merged_at", pa.timestamp("ms", tz="UTC"))])))  # fmt: skip
        assert timeline(store, tenant, survivor) == by_time_desc(mine + merged)
        assert timeline(store, tenant, survivor, limit=2) == by_time_desc(mine + merged)[:2]

    def test_a_published_score_fits_its_tables(self, store: ProjectionStore, tenant: str) -> None:
        customer = str(uuid.uuid4())
        as_of = int(T0.timestamp() * 1000)
        facts = [
            Fact("purchase.completed", "store", as_of - d * 86_400_000, "19.90") for d in (1, 9)
        ]
        for n, published in enumerate(
            [summarize(facts[1:], as_of - 1000), summarize(facts, as_of)]
        ):
            store.insert_arrow(
                "engagement_scores", score_rows(tenant, customer, published), f"s{n}{tenant}"
            )
        [(score, model, contributions)] = store.query_rows(
            "SELECT argMax(score, as_of), argMax(model_version, as_of), argMax(contributions, as_of)"
            " FROM engagement_current WHERE tenant = {t:String} GROUP BY customer_id",
            {"t": tenant},
        )
        latest = summarize(facts, as_of)["engagement"]
        assert (score, model) == (latest["score"], "engagement-v1")
        assert '"purchase.completed"' in contributions
        assert count(store, "engagement_scores", tenant) == 2

    def test_aggregate_views_count_distinct_customers_and_messages(
        self, store: ProjectionStore, tenant: str
    ) -> None:
        alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
        day2 = T0 + timedelta(days=1)

        def mail(customer: str, type_: str, message: str, at: datetime = T0) -> dict[str, Any]:
            payload = (
                f'{{"message_id":"{message}","campaign_id":"spring","campaign_name":"Spring"}}'
            )
            return touchpoint(tenant, customer, at, type_, payload=payload)

        rows = [mail(alice, "email.sent", "m1"), mail(bob, "email.sent", "m2"),
                mail(alice, "email.delivered", "m1"), mail(bob, "email.delivered", "m2"),
                mail(alice, "email.opened", "m1"), mail(alice, "email.opened", "m1", day2),
                mail(alice, "email.clicked", "m1", day2), touchpoint(tenant, bob, T0, "chat.started")]  # fmt: skip
        store.insert_arrow("touchpoints", touchpoints_table(rows))
        funnel = store.query_rows(
            "SELECT campaign_id, anyLast(campaign_name), uniqExactMerge(sent), uniqExactMerge(delivered),"
            " uniqExactMerge(opened), uniqExactMerge(clicked) FROM email_funnel"
            " WHERE tenant = {t:String} GROUP BY campaign_id",
            {"t": tenant},
        )
        assert funnel == [("spring", "Spring", 2, 2, 1, 1)]  # two opens of m1 on two days: one
        active = store.query_rows(
            "SELECT day, channel, uniqExactMerge(customers) FROM daily_active_customers"
            " WHERE tenant = {t:String} GROUP BY day, channel ORDER BY day, channel",
            {"t": tenant},
        )
        assert active == [
            (T0.date(), "chat", 1),
            (T0.date(), "email", 2),
            (day2.date(), "email", 1),
        ]

    def test_concurrent_inserts_from_threads_all_land(
        self, store: ProjectionStore, tenant: str
    ) -> None:
        def write(worker: int) -> None:
            for n in range(5):
                rows = [touchpoint(tenant, str(uuid.uuid4()), T0) for _ in range(10)]
                store.insert_arrow("touchpoints", touchpoints_table(rows), f"{tenant}|{worker}|{n}")

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(write, range(4)))
        assert count(store, "touchpoints", tenant) == 4 * 5 * 10

    def test_bad_sql_raises_the_ports_error(self, store: ProjectionStore) -> None:
        with pytest.raises(ProjectionStoreError):
            store.query_rows("SELECT * FROM no_such_table_here")
        with pytest.raises(ProjectionStoreError):
            store.query_rows("SELECT {x:UInt8}", {"x": "not a number"})


def score_rows(tenant: str, customer_id: str, published: Mapping[str, Any]) -> pa.Table:
    """One ``scores`` record as an ``engagement_scores`` row, as the projector will write it."""
    import orjson

    engagement = published["engagement"]
    return pa.Table.from_pylist(
        [{
            "tenant": tenant, "customer_id": customer_id,
            "as_of": datetime.fromtimestamp(published["as_of_ms"] / 1000, UTC),
            "model_version": published["model_version"], "score": engagement["score"],
            "raw": engagement["raw"], "events": published["events"],
            "contributions": orjson.dumps(engagement["contributions"]).decode(),
            "channels": orjson.dumps(published["channels"]).decode(),
        }],
        schema=pa.schema([("tenant", pa.string()), ("customer_id", pa.string()),
                          ("as_of", pa.timestamp("ms", tz="UTC")), ("model_version", pa.string()),
                          ("score", pa.float64()), ("raw", pa.float64()), ("events", pa.uint32()),
                          ("contributions", pa.string()), ("channels", pa.string())]),
    )  # fmt: skip
