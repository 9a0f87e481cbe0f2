"""The analyst SQL guard's rules, on a catalog read from the migration files (no engine).

Each hostile query is a case: it must be refused with the rule's code. The documented
queries and the constructs analysts rely on must pass, and what passes is the SQL the
guard wrote back, not the text that came in. ``tests/integration/test_analyst_sql.py``
runs the same attacks against chDB, with the engine layer behind the guard.
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from projections.analyst import ANALYST_TABLES, AnalystCatalog, SqlRefused, check_query, functions
from projections.analyst.catalog import TENANT_COLUMN
from projections.analytics import ANALYTICS_DOC, documented_queries
from projections.migrations import load_migrations


def ddl_columns() -> dict[str, frozenset[str]]:
    """Table -> columns, from the CREATE TABLE and CREATE VIEW statements of every migration."""
    tables: dict[str, frozenset[str]] = {}
    for migration in load_migrations():
        for statement in migration.statements():
            tree = sqlglot.parse_one(statement, read="clickhouse")
            if isinstance(tree, exp.Create) and tree.kind == "TABLE":
                schema = tree.this
                tables[schema.this.name] = frozenset(
                    c.name for c in schema.expressions if isinstance(c, exp.ColumnDef)
                )
            elif (
                isinstance(tree, exp.Create)
                and tree.kind == "VIEW"
                and isinstance(tree.expression, exp.Query)
            ):  # a plain view's columns are its select's output names
                tables[tree.this.name] = frozenset(tree.expression.named_selects)
    return tables


def ddl_catalog() -> AnalystCatalog:
    tables = ddl_columns()
    tenant = frozenset(t for t, columns in tables.items() if TENANT_COLUMN in columns)
    return AnalystCatalog(
        columns={t: tables[t] for t in ANALYST_TABLES},
        database="default",
        tenant_tables=tenant,
        other_tables=frozenset(
            {f"default.{t}" for t in tables.keys() - tenant}
            | {"system.tables", "system.mutations", "INFORMATION_SCHEMA.TABLES"}
        ),
    )


CATALOG = ddl_catalog()


def refusal(sql: str) -> SqlRefused:
    with pytest.raises(SqlRefused) as caught:
        check_query(sql, CATALOG)
    return caught.value


HOSTILE = [
    # table functions, every one of them in table position
    ("SELECT tenant, identities, payload FROM merge('^touchpoints$') WHERE tenant = 'tb'", "table_function"),
    ("SELECT * FROM merge(currentDatabase(), '^touchpoints$')", "table_function"),
    ("SELECT * FROM remote('127.0.0.1', default.touchpoints)", "table_function"),
    ("SELECT * FROM remoteSecure('127.0.0.1', default, touchpoints)", "table_function"),
    ("SELECT * FROM cluster('default', default.touchpoints)", "table_function"),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "table_function"),
    ("SELECT * FROM url('http://127.0.0.1/x', CSV)", "table_function"),
    ("SELECT * FROM s3('http://127.0.0.1/bucket/x')", "table_function"),
    ("SELECT * FROM hdfs('hdfs://127.0.0.1/x')", "table_function"),
    ("SELECT * FROM executable('id', 'TSV', 'x String')", "table_function"),
    ("SELECT * FROM input('x String')", "table_function"),
    ("SELECT * FROM view(SELECT * FROM touchpoints)", "table_function"),
    ("SELECT sum(cityHash64(number)) FROM numbers(1e11)", "table_function"),
    ("SELECT * FROM generateRandom('x Int8')", "table_function"),
    ("SELECT * FROM values('x Int8', 1)", "table_function"),
    ("SELECT * FROM VALUES (1)", "table_function"),
    ("SELECT * FROM null('x Int8')", "table_function"),
    ("SELECT * FROM jdbc('x', 'y')", "table_function"),
    ("SELECT * FROM odbc('x', 'y')", "table_function"),
    ("SELECT * FROM mysql('127.0.0.1', 'd', 't', 'u', 'p')", "table_function"),
    ("SELECT * FROM postgresql('127.0.0.1', 'd', 't', 'u', 'p')", "table_function"),
    ("SELECT * FROM Python(store)", "table_function"),  # chDB: reads the caller's Python objects
    ("SELECT * FROM touchpoints AS t JOIN numbers(10) AS n ON 1", "table_function"),
    ("SELECT * FROM dictionary('customers_dict')", "unknown_table"),
    # databases, however they are spelt
    ("SELECT * FROM system.tables", "qualified_table"),
    ("SELECT command FROM `system`.mutations", "qualified_table"),
    ('SELECT * FROM "system"."tables"', "qualified_table"),
    ("SELECT * FROM system/**/.tables", "qualified_table"),
    ("SELECT * FROM system . tables", "qualified_table"),
    ("SELECT * FROM INFORMATION_SCHEMA.TABLES", "qualified_table"),
    ("SELECT * FROM information_schema.columns", "qualified_table"),
    ("SELECT * FROM default.touchpoints", "qualified_table"),
    ("SELECT * FROM `default`.`touchpoints`", "qualified_table"),
    ("SELECT (SELECT count() FROM system.processes)", "qualified_table"),
    ("SELECT * FROM touchpoints WHERE channel IN (SELECT name FROM system.tables)", "qualified_table"),
    ("SELECT system.tables.name FROM touchpoints", "qualified_column"),
    # undocumented tables, directly or in a subquery
    ("SELECT * FROM touchpoints WHERE event_id IN (SELECT event_id FROM touchpoint_ids)", "unknown_table"),
    ("SELECT * FROM touchpoints WHERE customer_id IN (SELECT customer_id FROM audit_reads)", "unknown_table"),
    ("SELECT * FROM audit_reads", "unknown_table"),
    ("SELECT * FROM projection_status", "unknown_table"),
    ("SELECT * FROM schema_migrations", "unknown_table"),
    ("SELECT * FROM daily_touchpoints_mv", "unknown_table"),
    ("SELECT * FROM touchpoints WHERE customer_id IN identities", "in_table"),
    # WITH names that would stand for a table or a database
    ("WITH system AS (SELECT 1 AS a) SELECT * FROM system", "cte_shadows_table"),
    ("WITH system AS (SELECT 1 AS a) SELECT * FROM system.tables", "qualified_table"),
    ("WITH audit_reads AS (SELECT 1 AS z) SELECT * FROM audit_reads", "cte_shadows_table"),
    ("WITH touchpoints AS (SELECT * FROM customers) SELECT * FROM touchpoints", "cte_shadows_table"),
    # clauses the analyst may not set
    ("SELECT 1 SETTINGS readonly = 0", "settings"),
    ("SELECT count() FROM touchpoints SETTINGS additional_table_filters = {}", "settings"),
    ("SELECT * FROM (SELECT channel FROM touchpoints SETTINGS max_execution_time = 0)", "settings"),
    ("SELECT 1 FORMAT JSON", "format"),
    ("SELECT * FROM touchpoints FORMAT TSV", "format"),
    ("SELECT 1 INTO OUTFILE '/tmp/x'", "syntax"),
    ("SELECT * FROM touchpoints INTO OUTFILE '/tmp/x.csv' FORMAT CSV", "syntax"),
    ("SELECT {x:String}", "parameters"),
    ("SELECT * FROM {t:Identifier}", "parameters"),
    ("SELECT * APPLY(file) FROM touchpoints", "function_not_allowed"),
    # statements other than one SELECT
    ("SELECT 1; SELECT 2", "multiple_statements"),
    ("SELECT 1; DROP TABLE touchpoints", "multiple_statements"),
    ("INSERT INTO touchpoints SELECT * FROM touchpoints", "not_a_select"),
    ("ALTER TABLE touchpoints DELETE WHERE 1", "not_a_select"),
    ("ALTER TABLE touchpoints UPDATE summary = '' WHERE 1", "not_a_select"),
    ("DROP TABLE touchpoints", "not_a_select"),
    ("TRUNCATE TABLE touchpoints", "not_a_select"),
    ("OPTIMIZE TABLE touchpoints FINAL", "not_a_select"),
    ("SYSTEM STOP MERGES", "not_a_select"),
    ("SET readonly = 0", "not_a_select"),
    ("USE system", "not_a_select"),
    ("SHOW TABLES", "not_a_select"),
    ("DESCRIBE touchpoints", "not_a_select"),
    ("EXPLAIN SELECT 1", "not_a_select"),
    ("GRANT SELECT ON *.* TO default", "not_a_select"),
    ("CREATE TABLE x (a Int8) ENGINE = Memory", "not_a_select"),
    ("KILL QUERY WHERE 1", "syntax"),
    ("EXISTS TABLE touchpoints", "syntax"),
    ("CHECK TABLE touchpoints", "syntax"),
    # functions that reach past the query's tables, or describe the server
    ("SELECT dictGet('customers_dict', 'email', toUInt64(1))", "function_not_allowed"),
    ("SELECT dictGetString('d', 'a', toUInt64(1))", "function_not_allowed"),
    ("SELECT joinGet('identities', 'value', 'x')", "function_not_allowed"),
    ("SELECT hasColumnInTable('system', 'tables', 'name')", "function_not_allowed"),
    ("SELECT getSetting('additional_table_filters')", "function_not_allowed"),
    ("SELECT file('secrets.txt')", "function_not_allowed"),
    ("SELECT currentUser()", "function_not_allowed"),
    ("SELECT hostName()", "function_not_allowed"),
    ("SELECT currentDatabase()", "function_not_allowed"),
    ("SELECT globalIn(channel, 'audit_reads') FROM touchpoints", "function_not_allowed"),
    ("SELECT aiGenerate('say something')", "function_not_allowed"),
    ("SELECT sleep(3)", "function_not_allowed"),
    ("SELECT COLUMNS('.*') FROM touchpoints", "function_not_allowed"),
    ("SELECT dictGetIf('d', 'a', 1, 1)", "function_not_allowed"),
    # virtual columns and unknown columns
    ("SELECT _part, _partition_id FROM touchpoints", "reserved_name"),
    ("SELECT _part AS _part FROM touchpoints", "reserved_name"),
    ("SELECT nosuch FROM touchpoints", "unknown_column"),
    ("SELECT t.nosuch FROM touchpoints AS t", "unknown_column"),
    ("SELECT x.channel FROM touchpoints AS t", "unknown_column"),
    ("SELECT key_id FROM touchpoints", "unknown_column"),
    ("SELECT summary AS summary2, summary2 AS x FROM customers", "unknown_column"),
    # malformed, empty, or built to exhaust the parser
    ("", "empty"),
    ("  ;  ", "empty"),
    ("SELECT (1", "syntax"),
    ("SELECT 'unterminated", "syntax"),
    ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "too_complex"),
    ("SELECT 1 " + " " * 100_000, "too_long"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "code"), HOSTILE)
def test_a_hostile_query_is_refused_by_its_rule(sql: str, code: str) -> None:
    assert refusal(sql).code == code


MERGED_TOUCHPOINTS = frozenset({"touchpoints", "customer_aliases"})
DOCUMENTED_READS = {
    "channel_mix": MERGED_TOUCHPOINTS,
    "channel_mix_weekly": {"touchpoints"},
    "email_funnel": {"email_funnel"},
    "rfm_segments": {"rfm", "customer_aliases"},
    "rfm_grid": {"rfm", "customer_aliases"},
    "revenue_deciles": MERGED_TOUCHPOINTS,
    "churn_risk": MERGED_TOUCHPOINTS | {"rfm"},
    "ltv_by_acquisition_channel": MERGED_TOUCHPOINTS,
    "ctb_product_month": MERGED_TOUCHPOINTS,
    "weekly_cohort_retention": MERGED_TOUCHPOINTS,
    "multichannel_customers": MERGED_TOUCHPOINTS,
    "customer_timeline": MERGED_TOUCHPOINTS,
}


def test_every_documented_query_passes_and_names_what_it_reads() -> None:
    reads = {name: check_query(sql, CATALOG).tables for name, sql in documented_queries().items()}
    assert reads == DOCUMENTED_READS


ALLOWED = [
    "SELECT channel FROM touchpoints UNION ALL SELECT channel FROM daily_touchpoints",
    "SELECT x FROM (SELECT 1 AS x UNION DISTINCT SELECT 2) ORDER BY x",
    "WITH 5 AS k, big AS (SELECT * FROM rfm WHERE frequency > k) SELECT count() FROM big",
    "SELECT c.customer_id FROM customers AS c INNER JOIN rfm AS r ON r.customer_id = c.customer_id",
    "SELECT * FROM touchpoints AS a LEFT ANY JOIN customers AS b USING (customer_id)",
    "SELECT t.channel, f FROM touchpoints AS t ARRAY JOIN t.identity_flags AS f",
    "SELECT channel, flag FROM touchpoints LEFT ARRAY JOIN identity_flags AS flag",
    "SELECT arrayMap(x -> x * 2, [1, 2]) AS doubled, arrayFilter((k, v) -> v != '', mapKeys(identities), mapValues(identities)) FROM touchpoints",
    "SELECT row_number() OVER (PARTITION BY channel ORDER BY occurred_at) AS n FROM touchpoints",
    "SELECT sum(events) OVER w FROM daily_touchpoints WINDOW w AS (ORDER BY day)",
    "SELECT uniqExactMerge(customers), uniqExactMergeIf(customers, channel = 'web') FROM daily_active_customers",
    "SELECT quantile(0.9)(score), quantiles(0.1, 0.5)(score), median(score), topK(3)(model_version) FROM engagement_scores",
    "SELECT sumMap(identities), countIf(type = 'email.opened'), avgOrNull(kafka_offset) FROM touchpoints",
    "SELECT windowFunnel(86400)(occurred_at, type = 'email.sent', type = 'email.opened') FROM touchpoints",
    "SELECT channel FROM touchpoints ORDER BY occurred_at LIMIT 1 BY channel LIMIT 10",
    "SELECT CASE WHEN score > 50 THEN 'hi' ELSE 'lo' END, if(score > 50, 1, 0), score > 50 ? 1 : 0 FROM engagement_current",
    "SELECT CAST(score AS String), score::Int64, toDecimal64(score, 2), 7 DIV 2, 7 % 2 FROM engagement_current",
    "SELECT EXTRACT(DAY FROM occurred_at), TRIM(BOTH ' ' FROM summary), POSITION('a' IN summary), SUBSTRING(summary, 1, 3) FROM touchpoints",
    "SELECT count() FROM touchpoints WHERE occurred_at > now64(3, 'UTC') - INTERVAL 30 DAY",
    "SELECT count() FROM touchpoints WHERE channel IN ('web', 'store') AND customer_id GLOBAL IN (SELECT customer_id FROM rfm)",
    "SELECT count() FROM touchpoints FINAL PREWHERE channel = 'web' WHERE type LIKE 'email.%'",
    "SELECT channel, count() FROM touchpoints SAMPLE 1 GROUP BY channel WITH TOTALS",
    "SELECT identities['email'], (1, 'a').1, t.2 FROM touchpoints AS p, (SELECT (1, 2) AS t) AS s",
    "SELECT JSONExtractString(payload, 'amount') AS amount, toDecimal128OrZero(amount, 6) FROM touchpoints",
    "SELECT COUNT(), Sum(events), LOWER(channel) FROM daily_touchpoints GROUP BY channel",
    "SELECT * EXCEPT (payload) FROM touchpoints",
    "SELECT a, b FROM (SELECT 1, 2) AS s(a, b)",
    "SELECT 1;",
    "SELECT key, value, offset, partition FROM deadletter",
    "SELECT count() FROM touchpoints WHERE EXISTS (SELECT 1 FROM customer_aliases)",
]  # fmt: skip


@pytest.mark.parametrize("sql", ALLOWED)
def test_what_analysts_write_passes(sql: str) -> None:
    check_query(sql, CATALOG)


def test_what_runs_is_the_sql_written_back_from_the_checked_tree() -> None:
    checked = check_query(
        "select channel, /* note */ count() as n -- count\nfrom touchpoints group by channel",
        CATALOG,
    )
    assert checked.sql == ('SELECT "channel", count() AS "n" FROM "touchpoints" GROUP BY "channel"')
    assert check_query(checked.sql, CATALOG) == checked  # written back, it reads the same
    assert checked.tables == {"touchpoints"}


def test_functions_are_written_back_as_the_analyst_wrote_them() -> None:
    """sqlglot's own dialect would turn these into other functions (toMonday into dateTrunc)."""
    sql = check_query(
        "SELECT toMonday(occurred_at), dateDiff('day', occurred_at, received_at), "
        "if(channel = 'web', 1, 0), median(kafka_offset), 7 DIV 2 FROM touchpoints",
        CATALOG,
    ).sql
    for call in ("toMonday(", "dateDiff('day',", "if(", "median(", "intDiv(7, 2)"):
        assert call in sql


@pytest.mark.parametrize(
    "sql",
    [
        # A backslash escapes the quote in ClickHouse: all of this is one string literal.
        "SELECT 'a\\' FROM system.tables --' FROM touchpoints",
        "SELECT 'it''s -- not a comment', \"type\" FROM touchpoints",
        "SELECT `weird``name` FROM (SELECT 1 AS `weird``name`)",
    ],
)
def test_text_inside_literals_stays_inside_them(sql: str) -> None:
    checked = check_query(sql, CATALOG)
    tree = sqlglot.parse_one(checked.sql, read="clickhouse")
    assert {t.name for t in tree.find_all(exp.Table)} <= ANALYST_TABLES


def test_a_refusal_says_where() -> None:
    refused = refusal("SELECT channel,\n       dictGet('d', 'a', 1)\nFROM touchpoints")
    assert (refused.code, refused.line, refused.column) == ("function_not_allowed", 2, 8)
    assert "dictGet" in str(refused) and "line 2" in str(refused)
    syntax = refusal("SELECT 1,\n  2 3 FROM touchpoints")
    assert (syntax.line, syntax.column) == (2, 5)


def test_an_unknown_column_is_named() -> None:
    assert "unknown column chanel" in str(refusal("SELECT chanel FROM touchpoints"))
    assert "r (rfm) has no column score" in str(refusal("SELECT r.score FROM rfm AS r"))


def test_an_unknown_table_lists_the_tables_there_are() -> None:
    message = str(refusal("SELECT * FROM touchpoint"))
    assert "touchpoint is not an analyst table" in message and "touchpoints" in message


def test_combinators_apply_to_allowed_aggregates_only() -> None:
    assert functions.canonical("uniqExactStateIf") == "uniqExact"
    assert functions.canonical("sumForEachOrNull") == "sum"
    assert functions.canonical("COUNT") == "count"
    assert functions.canonical("lowerIf") is None  # lower is not an aggregate
    assert functions.canonical("dictGetIf") is None
    assert functions.canonical("sum" + "If" * 500) is None  # bounded, not a RecursionError


def test_no_function_that_leaves_the_query_is_allowed() -> None:
    leaks = {
        "dictGet", "dictGetString", "dictHas", "joinGet", "joinGetOrNull", "file", "url",
        "hasColumnInTable", "getSetting", "getSettingOrDefault", "getServerSetting", "getMacro",
        "currentUser", "user", "currentDatabase", "currentRoles", "hostName", "FQDN", "version",
        "uptime", "serverUUID", "queryID", "initialQueryID", "in", "globalIn", "notIn",
        "globalNotIn", "sleep", "sleepEachRow", "throwIf", "logTrace", "aiGenerate",
        "generateSerialID", "filesystemAvailable", "getClientHTTPHeader", "showCertificate",
        "regionToName", "evalMLMethod", "decrypt", "chdb", "__getScalar", "getMergeTreeSetting",
    }  # fmt: skip
    assert {name for name in leaks if functions.canonical(name) is not None} == set()


def test_the_catalog_is_the_tables_the_analytics_page_documents() -> None:
    page = ANALYTICS_DOC.read_text(encoding="utf-8")
    section = page.split("## Tables and columns", 1)[1].split("### Operational tables", 1)[0]
    assert set(re.findall(r"^### `(\w+)`", section, re.MULTILINE)) == ANALYST_TABLES
