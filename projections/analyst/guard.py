"""The parser layer: one SELECT over the analyst tables, with allowed functions only.

A query is parsed with sqlglot's ClickHouse dialect (``dialect.py``) and refused unless it
is a single ``SELECT`` (with any UNION, WITH, subqueries, joins, ARRAY JOIN, lambdas) whose
every table is an analyst table named without a database, with no table function, no
``VALUES``, ``SETTINGS``, ``FORMAT``, ``INTO OUTFILE``, ``APPLY`` or query parameter, no
function outside ``functions.py``, no ``IN table`` shorthand, and no column that its
tables, aliases and lambdas do not define (``columns.py``). Names starting with ``_`` are
refused outright: they are ClickHouse's virtual columns (``_part``, ``_partition_id``), which
describe storage that all tenants share.

What runs is what was checked: the SQL is written back from the checked tree, parsed
again and checked again, and must come out the same, so a quirk of either tokenizer
cannot carry a second meaning past the checks. The engine layer (``run.py``) scopes every
table to the tenant as well, so a mistake here alone does not leak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from projections.analyst import functions
from projections.analyst.catalog import AnalystCatalog
from projections.analyst.columns import check_columns, where
from projections.analyst.dialect import parse, render
from projections.analyst.errors import SqlRefused

MAX_SQL_CHARS = 100_000
_CALLS = (
    exp.Anonymous,
    exp.AnonymousAggFunc,
    exp.CombinedAggFunc,
    exp.ParameterizedAgg,
    exp.CombinedParameterizedAgg,
)
# Typed nodes the dialect still builds: SQL syntax, not calls by name.
_SYNTAX = (
    exp.Cast,
    exp.TryCast,
    exp.Extract,
    exp.Trim,
    exp.Substring,
    exp.StrPosition,
    exp.Array,
    exp.CastToStrType,
    exp.If,
    exp.Case,
    exp.Exists,
    exp.And,
    exp.Or,
    exp.Xor,
    exp.VarMap,
)
_PARAMETERS = (exp.Placeholder, exp.Parameter, exp.SessionParameter)
_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    """A query that passed the guard: the SQL to run and the analyst tables it reads."""

    sql: str
    tables: frozenset[str]


def check_query(sql: str, catalog: AnalystCatalog) -> CheckedQuery:
    """``sql`` checked against every rule, or ``SqlRefused`` naming the first one it breaks."""
    first = _parse_one(sql)
    _check_tree(first, catalog)
    text = render(first)
    again = _parse_one(text)
    tables = _check_tree(again, catalog)
    if render(again) != text:
        raise SqlRefused("unstable", "the query does not read back the same when rewritten")
    return CheckedQuery(text, tables)


def _parse_one(sql: str) -> exp.Expr:
    if not sql.strip():
        raise SqlRefused("empty", "the query is empty")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefused("too_long", f"the query is over {MAX_SQL_CHARS:,} characters")
    try:
        statements = parse(sql)
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        message = str(error.get("description") or exc).splitlines()[0]
        line, column = error.get("line"), error.get("col")
        if isinstance(column, int):  # where the highlighted token ends: step back to its start
            column -= max(len(str(error.get("highlight") or "")) - 1, 0)
        raise SqlRefused("syntax", message, line, column) from None
    except TokenError as exc:
        raise SqlRefused("syntax", str(exc).splitlines()[0]) from None
    except RecursionError:
        raise SqlRefused("too_complex", "the query is nested too deeply") from None
    if not statements:
        raise SqlRefused("empty", "the query is empty")
    if len(statements) > 1:
        raise SqlRefused("multiple_statements", "send one statement at a time")
    return _require_select(statements[0])


def _require_select(tree: exp.Expr) -> exp.Expr:
    if isinstance(tree, _ROOTS):
        return tree
    raise SqlRefused("not_a_select", f"only SELECT queries run here, not {_kind(tree)}")


def _kind(tree: exp.Expr) -> str:
    """``INSERT``, ``TRUNCATE TABLE``, ``SYSTEM``: the statement's kind, as SQL spells it."""
    if isinstance(tree, exp.Command):
        return tree.name.upper()
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(tree).__name__).upper()


def _check_tree(tree: exp.Expr, catalog: AnalystCatalog) -> frozenset[str]:
    """Every rule but the columns, node by node (parents first); then the columns."""
    tables: set[str] = set()
    for node in tree.walk():
        _check_clauses(node)
        if isinstance(node, exp.Table):
            tables |= _check_table(node, catalog)
        elif isinstance(node, exp.Func):
            _check_function(node)
        elif isinstance(node, exp.From | exp.Join):
            _check_source(node)
        elif isinstance(node, exp.CTE):
            _check_cte(node, catalog)
        else:
            _check_other(node)
    check_columns(tree, catalog)
    return frozenset(tables)


def _check_clauses(node: exp.Expr) -> None:
    if node.args.get("settings"):
        raise SqlRefused("settings", "leave out SETTINGS: the limits are set for you", *where(node))
    if node.args.get("format"):
        raise SqlRefused("format", "leave out FORMAT: choose the output format apart", *where(node))
    if isinstance(node, exp.Into) or node.args.get("into"):
        raise SqlRefused("into", "INTO (OUTFILE or a table) is not allowed", *where(node))


def _check_table(table: exp.Table, catalog: AnalystCatalog) -> set[str]:
    """A plain name of an analyst table, or of a WITH subquery in scope."""
    if isinstance(table.this, _PARAMETERS):
        raise SqlRefused("parameters", "query parameters are not supported: name the table")
    if not isinstance(table.this, exp.Identifier):
        name = table.this.name if isinstance(table.this, exp.Func) else table.this.sql()
        raise SqlRefused(
            "table_function", f"table functions are not allowed: {name}(...)", *where(table)
        )
    if table.args.get("db") or table.args.get("catalog"):
        raise SqlRefused(
            "qualified_table",
            f"name tables without a database: {table.name}, not {table.args['db'].name}.{table.name}",
            *where(table.args.get("catalog") or table.args["db"]),
        )
    if _is_cte_reference(table):
        return set()
    if table.name not in catalog.columns:
        readable = ", ".join(sorted(catalog.columns))
        raise SqlRefused(
            "unknown_table",
            f"{table.name} is not an analyst table (those are: {readable})",
            *where(table),
        )
    return {table.name}


def _is_cte_reference(table: exp.Table) -> bool:
    """Whether a WITH ... AS (subquery) of an enclosing query defines ``table``'s name."""
    scope: exp.Expr | None = table.parent
    while scope is not None:
        with_ = scope.args.get("with_")
        if isinstance(with_, exp.With) and any(
            not cte.args.get("scalar") and cte.alias == table.name for cte in with_.expressions
        ):
            return True
        scope = scope.parent
    return False


def _check_cte(cte: exp.CTE, catalog: AnalystCatalog) -> None:
    """A WITH subquery may not take a table's or a database's name: a name never means two."""
    if not cte.args.get("scalar") and cte.alias in catalog.reserved_names:
        raise SqlRefused(
            "cte_shadows_table",
            f"WITH {cte.alias} AS (...) would hide the table or database {cte.alias}: choose another name",
            *where(cte),
        )


def _check_function(node: exp.Func) -> None:
    if isinstance(node, _SYNTAX):
        return
    name = node.name if isinstance(node, _CALLS) else node.sql_name()
    if not isinstance(node, _CALLS) or functions.canonical(name) is None:
        raise SqlRefused(
            "function_not_allowed", f"{name} is not available to analysts", *where(node)
        )


def _check_source(node: exp.From | exp.Join) -> None:
    """FROM and JOIN read tables or subqueries; ARRAY JOIN reads expressions (checked as such)."""
    if isinstance(node, exp.Join) and node.args.get("kind") == "ARRAY":
        return
    source = node.this.this if isinstance(node.this, exp.Final) else node.this
    if not isinstance(source, exp.Table | exp.Subquery):
        raise SqlRefused("table_function", f"cannot read from {source.sql()[:60]}", *where(source))


def _check_other(node: exp.Expr) -> None:
    if isinstance(node, _PARAMETERS):
        raise SqlRefused(
            "parameters", "query parameters are not supported: write the value", *where(node)
        )
    if isinstance(node, exp.Values):
        raise SqlRefused("table_function", "VALUES is not allowed: read a table", *where(node))
    if isinstance(node, exp.In) and node.args.get("field") is not None:
        raise SqlRefused(
            "in_table", "IN needs a list or a subquery: IN (SELECT ... FROM t)", *where(node)
        )
    if isinstance(node, exp.Identifier) and node.name.startswith("_"):
        raise SqlRefused(
            "reserved_name", f"names starting with _ are reserved: {node.name}", *where(node)
        )
    if isinstance(node, exp.Command | exp.DDL | exp.DML):
        raise SqlRefused("not_a_select", f"only SELECT queries run here, not {_kind(node)}")
