"""What an analyst may read: the tables ``docs/analytics.md`` documents, with their columns.

The column lists come from the store (``system.columns``, read by our code, never by
the analyst's), so they cannot drift from the DDL. Only documented tables that carry a
``tenant`` column are readable: the engine can scope those to the caller and nothing
else. The operational tables stay out: ``projection_status`` and ``schema_migrations``
have no tenant (``projection_status`` counts rows written for every tenant),
``touchpoint_ids`` and ``serving_index_marks`` are the projector's bookkeeping, and
``audit_reads`` records which agent token read which customer, a record of people's
conduct kept for compliance, not a source for analysis. The materialized views
(``*_mv``) read their target tables under another name; analysts read the targets.

The same catalog gives the engine layer its list of every other table (to hide with an
always-false filter) and of every table with a tenant column (to scope to the caller).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from projections.store import ProjectionStore

ANALYST_TABLES = frozenset(
    {
        "touchpoints",
        "customers",
        "customer_aliases",
        "identities",
        "engagement_scores",
        "engagement_current",
        "rfm",
        "daily_touchpoints",
        "daily_active_customers",
        "email_funnel",
        "deadletter",
        "profile_fields",
        "profiles",
        "consent_state",
        "customer_survivors",
        "segment_members",
        "segment_changes",
    }
)
TENANT_COLUMN = "tenant"
# A SELECT without FROM reads system.one; it holds a single 0 and nothing about anyone.
_ALWAYS_READABLE = frozenset({"system.one"})


@dataclass(frozen=True, slots=True)
class AnalystCatalog:
    """The readable tables and their columns, and the rest of the store's tables by name."""

    columns: Mapping[str, frozenset[str]]  # analyst table -> its columns
    database: str = "default"  # the store's database, where unqualified names resolve
    tenant_tables: frozenset[str] = frozenset()  # every table there with a tenant column
    other_tables: frozenset[str] = frozenset()  # "db.table" of every other table, anywhere

    @property
    def reserved_names(self) -> frozenset[str]:
        """Every database, and every table of the store's database: names a CTE may not take."""
        split = [name.split(".", 1) for name in self.other_tables]
        databases = {db for db, _ in split} | {self.database}
        tables = {table for db, table in split if db == self.database}
        return frozenset(databases | tables | self.tenant_tables | set(self.columns))


def load_catalog(store: ProjectionStore) -> AnalystCatalog:
    """The catalog of ``store`` as it is now (two reads of ``system``; cache it if it matters)."""
    rows = store.query_rows(
        "SELECT table, groupArray(name) FROM system.columns "
        "WHERE database = currentDatabase() GROUP BY table"
    )
    columns = {str(table): frozenset(map(str, names)) for table, names in rows}
    tenant_tables = frozenset(t for t, names in columns.items() if TENANT_COLUMN in names)
    database = ""
    other_tables: set[str] = set()
    for current, db, name in store.query_rows(
        "SELECT currentDatabase(), database, name FROM system.tables"
    ):
        database = str(current)
        if not (db == database and name in tenant_tables):
            other_tables.add(f"{db}.{name}")
    return AnalystCatalog(
        columns={t: columns[t] for t in ANALYST_TABLES & tenant_tables},
        database=database,
        tenant_tables=tenant_tables,
        other_tables=frozenset(other_tables - _ALWAYS_READABLE),
    )
