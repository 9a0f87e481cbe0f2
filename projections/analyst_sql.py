"""Read-only SQL for analysts, scoped to one tenant by the engine, not by string editing.

The analyst's query runs as a subquery under ``readonly=1`` and
``additional_table_filters``: ClickHouse adds ``tenant = <tenant>`` to every
read of every table that has a tenant column, wherever the table appears
(joins, CTEs, unions), and refuses writes, settings changes and file or URL
table functions. System tables are refused outright: they describe every
tenant's queries.
"""

from __future__ import annotations

import re

import pyarrow as pa

from projections.store import ProjectionStore, ProjectionStoreError

_SYSTEM = re.compile(r"\b(system|information_schema|INFORMATION_SCHEMA)\s*\.", re.IGNORECASE)
_FORMAT = re.compile(r"\bFORMAT\s+\w+\s*$", re.IGNORECASE)
MAX_ROWS = 100_000


class SqlRefused(ValueError):
    """The query is not allowed, or ClickHouse refused it (the message says why)."""


def tenant_tables(store: ProjectionStore) -> list[str]:
    rows = store.query_rows(
        "SELECT DISTINCT table FROM system.columns "
        "WHERE database = currentDatabase() AND name = 'tenant' ORDER BY table"
    )
    return [str(r[0]) for r in rows]


def run_tenant_sql(
    store: ProjectionStore, tenant: str, sql: str, max_rows: int = MAX_ROWS
) -> pa.Table:
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SqlRefused("empty query")
    if _SYSTEM.search(text):
        raise SqlRefused("system tables are not available to analysts")
    if _FORMAT.search(text):
        raise SqlRefused("leave out FORMAT: choose the output with --format")
    filters = ", ".join(
        f"'{table}': 'tenant = {_literal(tenant)}'" for table in tenant_tables(store)
    )
    wrapped = (
        f"SELECT * FROM (\n{text}\n) LIMIT {int(max_rows)} "
        f"SETTINGS readonly = 1, additional_table_filters = {{{filters}}}"
    )
    try:
        return store.query_arrow(wrapped)
    except ProjectionStoreError as exc:
        raise SqlRefused(str(exc).split("\n")[0][:500]) from None


def _literal(value: str) -> str:
    """``value`` as a SQL string literal, itself inside a quoted filter (so doubly escaped)."""
    inner = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return inner.replace("\\", "\\\\").replace("'", "\\'")
