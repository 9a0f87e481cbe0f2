"""The engine layer, and the one entry point: check, then run scoped to the caller's tenant.

Whatever the guard let through runs inside ClickHouse under three settings of ours:
``readonly = 1`` (no writes, no settings changes), ``additional_table_filters`` with
``tenant = <tenant>`` on every table that has a tenant column and an always-false filter
on every other table, system ones included (so a table the guard mistook for something
else reads as the caller's rows, or as empty), and the ``QueryLimits``. The query is also
wrapped as ``SELECT * FROM (...) LIMIT n + 1``, so at most one row past the cap is ever
produced, and a result over the cap is refused rather than cut short without a word.
Table functions (``merge``, ``numbers``, ...) escape the filters; only the guard stops them.
"""

from __future__ import annotations

import re

import pyarrow as pa

from projections.analyst.catalog import TENANT_COLUMN, AnalystCatalog, load_catalog
from projections.analyst.guard import CheckedQuery, check_query
from projections.analyst.limits import QueryLimits, engine_error, rows_returned_hit
from projections.store import ProjectionStore, ProjectionStoreError, ProjectionStoreUnavailable

# The envelope's tenant pattern (schemas/envelope/v1.json): nothing to escape in it.
_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def run_analyst_query(
    store: ProjectionStore,
    tenant: str,
    sql: str,
    limits: QueryLimits | None = None,
    catalog: AnalystCatalog | None = None,
) -> pa.Table:
    """``sql`` as ``tenant``'s analyst may run it: refused (``SqlRefused``), stopped at a
    limit (``QueryLimitHit``), or its result. Pass a ``catalog`` to skip reading it each time."""
    catalog = catalog if catalog is not None else load_catalog(store)
    return run_checked(store, tenant, check_query(sql, catalog), catalog, limits)


def run_checked(
    store: ProjectionStore,
    tenant: str,
    query: CheckedQuery,
    catalog: AnalystCatalog,
    limits: QueryLimits | None = None,
) -> pa.Table:
    """Run a checked query (``check_query``'s result, say after auditing it) in the engine layer.

    The layer does not trust ``query``: it runs as safely whatever SQL it holds.
    """
    limits = limits if limits is not None else QueryLimits()
    settings = {**limits.settings(), **engine_scope(tenant, catalog), "readonly": "1"}
    wrapped = (
        f"SELECT * FROM (\n{query.sql}\n) LIMIT {limits.max_rows_returned + 1}\n"
        f"SETTINGS {', '.join(f'{name} = {value}' for name, value in settings.items())}"
    )
    try:
        result = store.query_arrow(wrapped)
    except ProjectionStoreUnavailable:
        raise
    except ProjectionStoreError as exc:
        raise engine_error(str(exc)) from None
    if result.num_rows > limits.max_rows_returned:
        raise rows_returned_hit(limits)
    return result


def engine_scope(tenant: str, catalog: AnalystCatalog) -> dict[str, str]:
    """``additional_table_filters``: the tenant's rows of tenant tables, nothing of the rest."""
    if not _TENANT.match(tenant):
        raise ValueError(f"not a tenant name: {tenant!r}")
    scoped = {
        f"{catalog.database}.{table}": f"{TENANT_COLUMN} = '{tenant}'"
        for table in sorted(catalog.tenant_tables)
    }
    hidden = {table: "0" for table in sorted(catalog.other_tables)}
    entries = ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in {**scoped, **hidden}.items())
    return {"additional_table_filters": "{" + entries + "}"}


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
