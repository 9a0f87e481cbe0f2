"""Analyst SQL on chDB, as a hostile analyst of tenant ``acme`` with ``globex`` beside it.

A chDB store in a temporary directory gets the real migrations and the same shop's rows
for both tenants: touchpoints (and so the aggregates their views fill), customers, merges,
identities, scores, RFM, dead letters, and the tables analysts may not read. Every text a
row holds names its tenant (``<globex>``), so a leaked row shows in any column. Then:
every hostile query is refused, or comes back holding only acme's rows; queries sent to
the engine layer alone, past the parser, still see only acme; the worked queries of
``docs/analytics.md`` give through the guard exactly what they give unguarded in a
database holding acme alone; and each limit, hit on small data with a tiny value,
raises ``QueryLimitHit`` naming it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from projections.analyst import (
    ANALYST_TABLES,
    AnalystCatalog,
    CheckedQuery,
    QueryLimitHit,
    QueryLimits,
    SqlRefused,
    functions,
    load_catalog,
    run_analyst_query,
    run_checked,
)
from projections.analytics import bind, documented_queries
from projections.migrations import apply_migrations
from projections.rows import (
    CUSTOMER_ALIASES_SCHEMA,
    CUSTOMERS_SCHEMA,
    DEADLETTER_SCHEMA,
    ENGAGEMENT_SCORES_SCHEMA,
    IDENTITIES_SCHEMA,
    MS,
    RFM_SCHEMA,
    TOUCHPOINTS_SCHEMA,
)
from projections.store import ProjectionStore, open_projection_store, rows_of
from tests.unit.test_sql_guard import HOSTILE, ddl_columns

ME, OTHER = "acme", "globex"
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
CHANNELS = ["phone", "chat", "email", "web", "store", "social"]
PEOPLE = 10
SOLO = "solo"  # a database holding acme's rows alone: the unguarded reference
Tables = dict[str, list[dict[str, Any]]]


def cid(tenant: str, n: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/customer/{n}")


def survivor(n: int) -> int:
    """Customers 8 and 9 were merged into 3 and 2 (8 first into 1, then re-pointed)."""
    return {8: 3, 9: 2}.get(n, n)


def shop(tenant: str) -> Tables:
    """The rows of every table for ``tenant``: the same shop for each, with its own ids."""
    tables: Tables = {
        name: []
        for name in (
            "touchpoints",
            "customers",
            "customer_aliases",
            "identities",
            "engagement_scores",
            "rfm",
            "deadletter",
            "audit_reads",
            "touchpoint_ids",
        )
    }
    for n in range(PEOPLE):
        _touchpoints(tables, tenant, n)
        _profile(tables, tenant, n)
        _scores(tables, tenant, n)
    for alias, first, then in ((8, 1, 3), (9, 2, 2)):
        for version, target in ((1, first), (2, then)):
            tables["customer_aliases"].append(
                {
                    "tenant": tenant,
                    "alias_id": cid(tenant, alias),
                    "survivor_id": cid(tenant, target),
                    "version": version,
                    "reason": f"email:<{tenant}>",
                    "cause_event_id": "",
                    "merged_at": AS_OF - timedelta(days=3 - version),
                }
            )
    tables["deadletter"].append(
        {
            "tenant": tenant,
            "failed_at": AS_OF,
            "stage": "identity",
            "reason": f"bad record <{tenant}>",
            "topic": "touchpoints",
            "partition": 0,
            "offset": 1,
            "key": "",
            "value": f"<{tenant}>",
            "deadletter_partition": 0,
            "deadletter_offset": 0,
        }
    )
    return tables


def _touchpoints(tables: Tables, tenant: str, n: int) -> None:
    """3 to 6 events of customer ``n``, days apart, across channels; some purchases, some email."""
    customer = cid(tenant, n)
    for k in range(3 + n % 4):
        event = uuid.uuid5(customer, f"event/{k}")
        channel = CHANNELS[(n + k) % len(CHANNELS)]
        kind, payload = _event(tenant, n, k, channel)
        tables["touchpoints"].append(
            {
                "tenant": tenant,
                "customer_id": customer,
                "event_id": event,
                "channel": channel,
                "occurred_at": AS_OF - timedelta(days=2 + 5 * k + n, hours=n),
                "type": kind,
                "schema_version": 1,
                "summary": f"<{tenant}> {kind}",
                "payload": json.dumps(payload),
                "identities": [("email", f"p{n}@{tenant}.example")],
                "identity_flags": [],
                "received_at": AS_OF,
                "source": "sim",
                "correlation_id": "",
                "conversation_id": "",
                "kafka_partition": 0,
                "kafka_offset": 10 * n + k,
            }
        )
        tables["touchpoint_ids"].append({"tenant": tenant, "event_id": event})


def _profile(tables: Tables, tenant: str, n: int) -> None:
    customer = cid(tenant, n)
    tables["customers"].append(
        {
            "tenant": tenant,
            "customer_id": customer,
            "version": 1,
            "first_seen": AS_OF - timedelta(days=60),
            "identities": [("email", [f"p{n}@{tenant}.example"])],
            "consent": [("email", True)],
            "survivor_id": cid(tenant, survivor(n)),
            "erased": False,
            "updated_at": AS_OF,
        }
    )
    tables["identities"].append(
        {
            "tenant": tenant,
            "kind": "email",
            "value": f"p{n}@{tenant}.example",
            "customer_id": customer,
            "version": 1,
            "linked": True,
            "updated_at": AS_OF,
        }
    )
    tables["audit_reads"].append(
        {
            "tenant": tenant,
            "customer_id": customer,
            "read_at": AS_OF,
            "key_id": f"key <{tenant}>",
            "role": "agent",
            "what": "timeline",
        }
    )


def _scores(tables: Tables, tenant: str, n: int) -> None:
    """Two versions of each customer's RFM and score: the newer must win."""
    customer = cid(tenant, n)
    for age in (2, 1):
        tables["rfm"].append(
            {
                "tenant": tenant,
                "customer_id": customer,
                "as_of": AS_OF - timedelta(days=age),
                "model_version": "rfm-v1",
                "recency_days": float(n + age) if n % 3 else None,
                "frequency": n % 4 + age,
                "monetary": Decimal(f"{10 * n + age}.5000"),
                "segment": ["champion", "loyal", "at_risk", "prospect"][(n + age) % 4],
                "churn_risk": ["high", "low", "medium"][(n + age) % 3],
            }
        )
        tables["engagement_scores"].append(
            {
                "tenant": tenant,
                "customer_id": customer,
                "as_of": AS_OF - timedelta(days=age),
                "model_version": "engagement-v1",
                "score": float(5 * n + age),
                "raw": float(n),
                "events": n,
                "contributions": f'["<{tenant}>"]',
                "channels": "{}",
            }
        )


def _event(tenant: str, n: int, k: int, channel: str) -> tuple[str, dict[str, Any]]:
    if channel in ("store", "web") and k % 2 == 0:
        return "purchase.completed", {
            "order_id": f"{tenant}-{n}-{k}",
            "amount": f"{n + k}.50",
            "currency": "EUR",
            "items": [
                {
                    "sku": f"sku-{k % 3}",
                    "name": f"<{tenant}>",
                    "quantity": 1,
                    "unit_price": f"{n + k}.50",
                }
            ],
        }
    if channel == "email":
        steps = ["email.sent", "email.delivered", "email.opened", "email.clicked"]
        return steps[k % 4], {
            "campaign_id": "spring",
            "campaign_name": "Spring",
            "message_id": f"m{n}",
        }
    return f"{channel}.contacted", {"note": f"<{tenant}>"}


SCHEMAS = {
    "touchpoints": TOUCHPOINTS_SCHEMA,
    "customers": CUSTOMERS_SCHEMA,
    "customer_aliases": CUSTOMER_ALIASES_SCHEMA,
    "identities": IDENTITIES_SCHEMA,
    "engagement_scores": ENGAGEMENT_SCORES_SCHEMA,
    "rfm": RFM_SCHEMA,
    "deadletter": DEADLETTER_SCHEMA,
    "audit_reads": pa.schema(
        [
            ("tenant", pa.string()),
            ("customer_id", pa.string()),
            ("read_at", MS),
            ("key_id", pa.string()),
            ("role", pa.string()),
            ("what", pa.string()),
        ]
    ),
    "touchpoint_ids": pa.schema([("tenant", pa.string()), ("event_id", pa.string())]),
}


def insert(store: ProjectionStore, tenant: str) -> None:
    for table, rows in shop(tenant).items():
        text = [{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in r.items()} for r in rows]
        store.insert_arrow(table, pa.Table.from_pylist(text, schema=SCHEMAS[table]))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectionStore]:
    store = open_projection_store(f"chdb://{tmp_path_factory.mktemp('analyst-chdb')}")
    apply_migrations(store)
    insert(store, ME)
    insert(store, OTHER)
    store.command(
        "INSERT INTO projection_status (projection_name, topic, partition, last_offset, "
        "lag, rows_written, updated_at) VALUES ('touchpoints', 't', 0, 9, 0, 99, now64(3))"
    )
    store.command(f"CREATE DATABASE {SOLO}")
    store.command(f"USE {SOLO}")
    try:
        apply_migrations(store)
        insert(store, ME)
    finally:
        store.command("USE default")
    yield store
    store.close()


@pytest.fixture(scope="module")
def catalog(store: ProjectionStore) -> AnalystCatalog:
    return load_catalog(store)


def leaked(result: pa.Table) -> list[Any]:
    """Cells of the result that belong to the other tenant."""
    return [
        value
        for column in result.columns
        for value in column.to_pylist()
        if value == OTHER or f"<{OTHER}>" in str(value) or f"@{OTHER}." in str(value)
    ]


def count_mine(store: ProjectionStore, table: str) -> int:
    return int(store.query_rows(f"SELECT count() FROM {table} WHERE tenant = '{ME}'")[0][0])


# -- the catalog and the allowlist, against the engine ------------------------------------


def test_the_catalog_is_the_ddl(catalog: AnalystCatalog) -> None:
    """Columns read from system.columns match the migrations' CREATE TABLE statements."""
    ddl = ddl_columns()
    assert dict(catalog.columns) == {table: ddl[table] for table in ANALYST_TABLES}
    assert {"audit_reads", "touchpoint_ids", "daily_touchpoints_mv"} <= catalog.tenant_tables
    assert {"default.projection_status", "system.tables", "INFORMATION_SCHEMA.TABLES"} <= (
        catalog.other_tables
    )
    assert "system.one" not in catalog.other_tables  # SELECT without FROM reads it


def test_every_allowed_function_is_one_the_engine_has_in_an_allowed_category(
    store: ProjectionStore,
) -> None:
    rows = store.query_rows(
        "SELECT name, if(alias_to = '', categories, "
        "(SELECT any(categories) FROM system.functions AS f WHERE f.name = alias_to)), "
        "is_aggregate FROM system.functions"
    )
    category = {str(name): str(cat) for name, cat, _ in rows}
    aggregates = {str(name) for name, _, is_aggregate in rows if is_aggregate}
    assert functions.ALLOWED - category.keys() == set()
    refused = {
        "Dictionary",
        "Embedded Dictionary",
        "Introspection",
        "Internal",
        "AI",
        "Machine Learning",
        "Encryption",
        "Geo",
        "Geo Polygon",
        "Time Series",
    }
    assert {n for n in functions.ALLOWED if category[n] in refused} == set()
    assert functions.AGGREGATES - aggregates == set()


# -- the guard in front of the engine --------------------------------------------------------


@pytest.mark.parametrize(("sql", "code"), HOSTILE)
def test_a_hostile_query_is_refused(store: ProjectionStore, sql: str, code: str) -> None:
    with pytest.raises(SqlRefused) as refused:
        run_analyst_query(store, ME, sql)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("sql", "mine"),
    [
        (
            f"SELECT tenant, summary FROM touchpoints UNION ALL "
            f"SELECT tenant, summary FROM touchpoints WHERE tenant = '{OTHER}'",
            "touchpoints",
        ),
        (f"SELECT * FROM touchpoints WHERE tenant = '{OTHER}' OR 1 = 1", "touchpoints"),
        (
            f"SELECT tenant, summary FROM touchpoints WHERE customer_id GLOBAL IN "
            f"(SELECT customer_id FROM customers WHERE tenant = '{OTHER}')",
            None,
        ),
        (
            "SELECT c.tenant, c.identities FROM customers AS c INNER JOIN identities AS i "
            "ON i.customer_id = c.customer_id",
            "customers",
        ),
        ("SELECT * FROM touchpoints WHERE identities IN (identities)", "touchpoints"),
        ("WITH everyone AS (SELECT * FROM identities) SELECT * FROM everyone", "identities"),
        ("SELECT reason, value FROM deadletter", "deadletter"),
    ],
)
def test_queries_the_guard_allows_see_only_the_callers_rows(
    store: ProjectionStore, sql: str, mine: str | None
) -> None:
    """Each returns exactly the caller's rows of ``mine`` (or none at all), never the other's."""
    result = run_analyst_query(store, ME, sql)
    assert leaked(result) == []
    assert result.num_rows == (count_mine(store, mine) if mine else 0)


# -- the engine layer alone, the parser bypassed ---------------------------------------------


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("SELECT tenant, summary, identities FROM touchpoints", "touchpoints"),
        (f"SELECT tenant, summary FROM default.touchpoints WHERE tenant = '{OTHER}'", None),
        ("SELECT tenant, key_id FROM audit_reads", "audit_reads"),
        ("SELECT * FROM touchpoint_ids", "touchpoint_ids"),
        ("SELECT * FROM daily_touchpoints_mv", None),
        (
            "SELECT * FROM identities WHERE (tenant, kind, value, customer_id, version, linked, "
            "updated_at) IN identities",
            "identities",
        ),
        ("SELECT * FROM projection_status", None),
        ("SELECT * FROM schema_migrations", None),
        ("SELECT name FROM system.tables", None),
        ("SELECT * FROM system.columns", None),
        ("SELECT * FROM `system`.processes", None),
        ("SELECT * FROM INFORMATION_SCHEMA.TABLES", None),
        (
            "SELECT tenant FROM (SELECT * FROM touchpoints SETTINGS additional_table_filters = {})",
            "touchpoints",
        ),
        (
            "SELECT tenant, summary FROM touchpoints SETTINGS readonly = 0, "
            "additional_table_filters = {'touchpoints': '1'}",
            "touchpoints",
        ),
    ],
)
def test_the_engine_layer_alone_shows_only_the_callers_rows(
    store: ProjectionStore, catalog: AnalystCatalog, sql: str, table: str | None
) -> None:
    """Unchecked SQL straight to ``run_checked``: scoped by the engine, or empty."""
    result = run_checked(store, ME, CheckedQuery(sql, frozenset()), catalog)
    assert leaked(result) == []
    if table is None:
        return
    assert result.num_rows == count_mine(store, table) > 0


def test_the_views_and_the_ids_set_are_scoped_too(
    store: ProjectionStore, catalog: AnalystCatalog
) -> None:
    mv = run_checked(
        store,
        ME,
        CheckedQuery("SELECT DISTINCT tenant FROM daily_touchpoints_mv", frozenset()),
        catalog,
    )
    assert mv.to_pylist() == [{"tenant": ME}]
    theirs = uuid.uuid5(cid(OTHER, 0), "event/0")
    probe = f"SELECT ('{OTHER}', toUUID('{theirs}')) IN touchpoint_ids AS found"
    assert run_checked(store, ME, CheckedQuery(probe, frozenset()), catalog).to_pylist() == [
        {"found": 0}
    ]
    assert store.query_rows(probe) == [(1,)]  # the row is there: the filter hid it


def test_table_functions_escape_the_engine_layer_so_the_guard_refuses_them(
    store: ProjectionStore, catalog: AnalystCatalog
) -> None:
    """Why the parser matters: ``merge()`` reads past additional_table_filters."""
    sql = f"SELECT tenant, summary FROM merge('^touchpoints$') WHERE tenant = '{OTHER}'"
    assert leaked(run_checked(store, ME, CheckedQuery(sql, frozenset()), catalog)) != []
    with pytest.raises(SqlRefused, match="merge"):
        run_analyst_query(store, ME, sql, catalog=catalog)


def test_the_engine_layer_alone_stops_an_endless_query(
    store: ProjectionStore, catalog: AnalystCatalog
) -> None:
    sql = "SELECT sum(cityHash64(number)) FROM numbers(1e11)"
    with pytest.raises(QueryLimitHit) as hit:
        run_checked(store, ME, CheckedQuery(sql, frozenset()), catalog)
    assert hit.value.limit == "rows_read"


def test_the_engine_layer_refuses_a_tenant_that_is_not_a_name(
    store: ProjectionStore, catalog: AnalystCatalog
) -> None:
    with pytest.raises(ValueError, match="not a tenant"):
        run_analyst_query(store, f"{ME}' OR 1 = 1 OR '", "SELECT 1", catalog=catalog)


# -- the documented queries ------------------------------------------------------------------


def documented(name: str) -> str:
    sql = documented_queries()[name]
    if name in ("channel_mix", "multichannel_customers", "ltv_by_acquisition_channel"):
        return bind(sql, as_of=AS_OF)
    if name == "customer_timeline":
        return bind(sql, customer=cid(ME, 3))
    return sql


@pytest.mark.parametrize("name", sorted(documented_queries()))
def test_a_documented_query_gives_through_the_guard_what_it_gives_unguarded(
    store: ProjectionStore, catalog: AnalystCatalog, name: str
) -> None:
    sql = documented(name)
    guarded = rows_of(run_analyst_query(store, ME, sql, catalog=catalog))
    store.command(f"USE {SOLO}")
    try:
        unguarded = store.query_rows(sql)
    finally:
        store.command("USE default")
    assert guarded == unguarded and guarded, name


# -- limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "sql", "limit"),
    [
        (QueryLimits(max_rows_read=5), "SELECT sum(kafka_offset) FROM touchpoints", "rows_read"),
        (
            QueryLimits(max_memory_bytes=4_000_000),
            "SELECT max(length(range(toUInt64(2000000 + kafka_offset)))) FROM touchpoints",
            "memory",
        ),
        (
            QueryLimits(max_execution_seconds=0.2),
            "SELECT count() FROM touchpoints AS a CROSS JOIN touchpoints AS b CROSS JOIN touchpoints AS c "
            "CROSS JOIN touchpoints AS d CROSS JOIN touchpoints AS e CROSS JOIN touchpoints AS f",
            "execution_time",
        ),
        (QueryLimits(max_rows_returned=3), "SELECT event_id FROM touchpoints", "rows_returned"),
    ],
)
def test_a_limit_hit_names_the_limit(
    store: ProjectionStore, catalog: AnalystCatalog, limits: QueryLimits, sql: str, limit: str
) -> None:
    with pytest.raises(QueryLimitHit) as hit:
        run_analyst_query(store, ME, sql, limits, catalog)
    assert (hit.value.limit, hit.value.code) == (limit, "limit_exceeded")
    # The store answers the next query, Arrow or not (chDB keeps a failed query's output).
    assert store.query_rows("SELECT 42") == [(42,)]
    store.command("SELECT 1")


def test_a_result_at_the_row_cap_is_returned_whole(
    store: ProjectionStore, catalog: AnalystCatalog
) -> None:
    limits = QueryLimits(max_rows_returned=3)
    sql = "SELECT event_id FROM touchpoints ORDER BY kafka_offset LIMIT 3"
    assert run_analyst_query(store, ME, sql, limits, catalog).num_rows == 3


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT toUInt8(summary) FROM touchpoints", "Cannot parse"),
        ("SELECT channel + 1 FROM touchpoints", "Illegal types"),
        ("SELECT (SELECT 1 AS hidden), hidden FROM touchpoints", "hidden"),
    ],
)
def test_sql_the_engine_refuses_is_a_refusal_with_its_first_line(
    store: ProjectionStore, catalog: AnalystCatalog, sql: str, says: str
) -> None:
    with pytest.raises(SqlRefused) as refused:
        run_analyst_query(store, ME, sql, catalog=catalog)
    assert refused.value.code == "engine" and says in refused.value.message
    assert "\n" not in refused.value.message
