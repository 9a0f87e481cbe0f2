"""Read-only SQL for analysts, scoped to the caller's tenant by two independent layers.

``guard`` parses the query with sqlglot and refuses anything but one SELECT over the
documented tables (``catalog``) with allowed functions (``functions``); ``run`` executes
the SQL written back from the checked tree under ``readonly``, a tenant filter on every
table and the ``limits``. ``run_analyst_query`` does both; ``check_query`` and
``run_checked`` apart let a caller record what will run before it runs.
"""

from projections.analyst.catalog import ANALYST_TABLES, AnalystCatalog, load_catalog
from projections.analyst.errors import AnalystQueryError, QueryLimitHit, SqlRefused
from projections.analyst.guard import CheckedQuery, check_query
from projections.analyst.limits import QueryLimits
from projections.analyst.run import run_analyst_query, run_checked

__all__ = [
    "ANALYST_TABLES",
    "AnalystCatalog",
    "AnalystQueryError",
    "CheckedQuery",
    "QueryLimitHit",
    "QueryLimits",
    "SqlRefused",
    "check_query",
    "load_catalog",
    "run_analyst_query",
    "run_checked",
]
