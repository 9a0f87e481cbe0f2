"""A segment's members now: a rule compiled and run with parameters, or analyst SQL run
through the same guard and tenant scope as ``POST /v1/sql``.

Both give, per member, which of the rule's conditions hold (a SQL segment has none), so
the refresher can say why someone entered or left. A rule is evaluated over every
surviving customer of the tenant (non-members too: their condition values tell the next
refresh which condition changed); a SQL segment's result is capped by the analyst
limits (``TOUCHLINE_SQL_MAX_ROWS_RETURNED``): a larger result is refused, not cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.analyst import AnalystCatalog, QueryLimits, SqlRefused, check_query, run_checked
from projections.segments.rules import CompiledRule, RuleError, compile_rule
from projections.store import ProjectionStore

KINDS = ("rule", "sql")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,99}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class DefinitionError(ValueError):
    """A definition that cannot be a segment; ``path`` is where in the request it is wrong."""

    def __init__(self, path: str, message: str, code: str = "bad_definition") -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message, self.code = path, message, code


@dataclass
class Evaluation:
    """Members and, per member and non-member of a rule, its condition values."""

    members: set[str]
    conditions: list[dict[str, str]] = field(default_factory=list)  # path, text
    values: dict[str, tuple[bool, ...]] = field(default_factory=dict)


def check_definition(body: Any, catalog: AnalystCatalog, now: datetime) -> tuple[str, str, Any]:
    """``(name, kind, definition)`` from a create request, or ``DefinitionError`` with the path."""
    if not isinstance(body, dict):
        raise DefinitionError(
            "$", 'expected {"name": ..., "rule": {...}} or {"name": ..., "sql": "..."}'
        )
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or _UUID.match(name):
        raise DefinitionError(
            "$.name", "expected a name of 1-100 letters, digits, spaces, _ . : - (not a UUID)"
        )
    kinds = [k for k in KINDS if k in body]
    if len(kinds) != 1:
        raise DefinitionError("$", 'give exactly one of "rule" or "sql"')
    extra = sorted(set(body) - {"name", *KINDS})
    if extra:
        raise DefinitionError(f"$.{extra[0]}", "unexpected key (allowed: name, rule, sql)")
    kind = kinds[0]
    check(kind, body[kind], catalog, now)
    return name, kind, body[kind]


def check(kind: str, definition: Any, catalog: AnalystCatalog, now: datetime) -> None:
    if kind == "rule":
        try:
            compile_rule(definition, now)
        except RuleError as exc:
            raise DefinitionError("$.rule" + exc.path[1:], exc.message) from None
        return
    if not isinstance(definition, str):
        raise DefinitionError("$.sql", "expected the query as a string")
    try:
        checked = check_query(definition, catalog)
    except SqlRefused as exc:
        where = f" (line {exc.line}, column {exc.column})" if exc.line is not None else ""
        raise DefinitionError("$.sql", f"{exc}{where}", exc.code) from None
    del checked


def evaluate(store: ProjectionStore, tenant: str, kind: str, definition: Any, now: datetime,
             catalog: AnalystCatalog, limits: QueryLimits) -> Evaluation:  # fmt: skip
    """The members now (``SqlRefused``/``QueryLimitHit`` for SQL the engine stops)."""
    if kind == "rule":
        return _rule(store, tenant, compile_rule(definition, now))
    table = run_checked(store, tenant, check_query(str(definition), catalog), catalog, limits)
    if "customer_id" not in table.column_names:
        raise DefinitionError("$.sql", "the query must return a customer_id column")
    return Evaluation({str(v) for v in table.column("customer_id").to_pylist() if v is not None})


def _rule(store: ProjectionStore, tenant: str, rule: CompiledRule) -> Evaluation:
    rows = store.query_rows(rule.sql, {**rule.params, "tenant": tenant})
    members = {str(r[0]) for r in rows if r[1]}
    values = {str(r[0]): tuple(bool(v) for v in r[2:]) for r in rows}
    conditions = [{"path": c.path, "text": c.text} for c in rule.conditions]
    return Evaluation(members, conditions, values)
