"""The rule language: a JSON condition tree checked, then compiled to parameterized SQL.

A rule is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a condition on one
customer fact (profile field, consent, engagement score, RFM, touchpoint counts in a
window). Every value the analyst wrote travels as a ClickHouse ``{pN:Type}`` parameter,
never as SQL text: the only SQL spelled here is ours. A rule that is wrong is refused
with ``RuleError`` naming the JSON path of the wrong part (``$.all[1].op``), so the API
can answer 422 with it. Compiling gives one SELECT over every surviving customer of the
tenant with a ``member`` column and one column per condition (``c0``, ``c1``...), so the
refresher can tell which condition changed when a customer enters or leaves.

Long because each kind of condition checks its own shape (to name the wrong path) and
builds its own SQL, and all of them share one parameter numbering and one set of joins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from projections.consents import CHANNELS, PURPOSES

MAX_CONDITIONS = 32
MAX_DEPTH = 8
MAX_WINDOW_DAYS = 3660
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,62}(\.[a-z0-9_]{1,63}){0,4}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
NUMERIC_OPS = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
TEXT_OPS = ("eq", "ne", "in")
PROFILE_OPS = (*NUMERIC_OPS, "in", "exists", "missing", "contains")
RFM_TEXT = {"segment": "segment", "churn_risk": "churn_risk"}
RFM_NUMBER = {"monetary_decile": "decile", "recency_days": "recency_days",
              "frequency": "frequency", "monetary": "monetary"}  # fmt: skip
STATES = ("granted", "withdrawn", "unknown")


class RuleError(ValueError):
    """A rule that cannot be compiled; ``path`` is where in the JSON it is wrong."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


@dataclass(frozen=True, slots=True)
class Condition:
    """One leaf: where it is in the rule, what it says in words, and its SQL over the joins."""

    path: str
    text: str
    sql: str


@dataclass
class CompiledRule:
    """The SELECT (``customer_id``, ``member``, ``c0``...) and its parameters."""

    sql: str
    params: dict[str, Any]
    conditions: list[Condition]


@dataclass
class _Compiler:
    now: datetime
    params: dict[str, Any] = field(default_factory=dict)
    conditions: list[Condition] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)  # pf.f<i> fields
    consent: list[tuple[str, str]] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)  # tp.n<i> count expressions
    joins: set[str] = field(default_factory=set)

    def param(self, value: Any, kind: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"


def compile_rule(rule: Any, now: datetime) -> CompiledRule:
    """``rule`` checked and compiled for the tenant bound later as ``{tenant:String}``;
    windows end at ``now``."""
    compiler = _Compiler(now)
    member = _node(compiler, rule, "$", 0)
    if not compiler.conditions:
        raise RuleError("$", "a rule needs at least one condition")
    columns = ", ".join(f"({c.sql}) AS c{i}" for i, c in enumerate(compiler.conditions))
    sql = (f"SELECT toString(b.customer_id) AS customer_id, ({member}) AS member, {columns}\n"
           f"FROM ({_BASE}) AS b\n{_joins(compiler)}")  # fmt: skip
    return CompiledRule(sql, {**compiler.params}, compiler.conditions)


def _node(c: _Compiler, node: Any, path: str, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise RuleError(path, f"nested deeper than {MAX_DEPTH}")
    if not isinstance(node, Mapping):
        raise RuleError(path, "expected an object: a condition, or all/any/not")
    for combinator in ("all", "any"):
        if combinator in node:
            _only(node, path, {combinator})
            items = node[combinator]
            if not isinstance(items, list) or not items:
                raise RuleError(f"{path}.{combinator}", "expected a non-empty list of conditions")
            parts = [_node(c, item, f"{path}.{combinator}[{i}]", depth + 1)
                     for i, item in enumerate(items)]  # fmt: skip
            return f" {'AND' if combinator == 'all' else 'OR'} ".join(f"({p})" for p in parts)
    if "not" in node:
        _only(node, path, {"not"})
        return f"NOT ({_node(c, node['not'], f'{path}.not', depth + 1)})"
    return _leaf(c, node, path)


def _leaf(c: _Compiler, node: Mapping[str, Any], path: str) -> str:
    if len(c.conditions) >= MAX_CONDITIONS:
        raise RuleError(path, f"a rule has at most {MAX_CONDITIONS} conditions")
    for kind, build in _LEAVES.items():
        if kind in node:
            text, sql = build(c, node, path)
            c.conditions.append(Condition(path, text, sql))
            return sql
    known = ", ".join(("all", "any", "not", *_LEAVES))
    raise RuleError(path, f"not a condition: give one of {known}")


def _only(node: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    extra = sorted(set(node) - allowed)
    if extra:
        raise RuleError(
            f"{path}.{extra[0]}", f"unexpected key (allowed here: {', '.join(sorted(allowed))})"
        )


def _profile(c: _Compiler, node: Mapping[str, Any], path: str) -> tuple[str, str]:
    _only(node, path, {"profile", "op", "value"})
    name = node["profile"]
    if not isinstance(name, str) or not _FIELD.match(name):
        raise RuleError(f"{path}.profile", "expected a profile field like attributes.plan")
    op = _op(node, path, PROFILE_OPS)
    i = len(c.profile)
    c.profile.append(name)
    c.joins.add("pf")
    value, has = f"pf.f{i}", f"pf.h{i}"
    if op in ("exists", "missing"):
        _only(node, path, {"profile", "op"})
        return f"profile {name} {op}", has if op == "exists" else f"NOT {has}"
    given = _value(node, path)
    if op == "contains":
        text = _text(given, f"{path}.value")
        return (f"profile {name} contains {text!r}",
                f"has(JSONExtract({value}, 'Array(String)'), {c.param(text, 'String')})")  # fmt: skip
    if op == "in":
        items = _texts(given, f"{path}.value")
        return (f"profile {name} in {items}",
                f"{has} AND JSONExtractString({value}) IN {c.param(items, 'Array(String)')}")  # fmt: skip
    if isinstance(given, bool) or not isinstance(given, int | float | str):
        raise RuleError(f"{path}.value", "expected a string or a number")
    if isinstance(given, str):
        if op not in ("eq", "ne"):
            raise RuleError(f"{path}.op", f"{op} compares numbers: the value is text")
        return (f"profile {name} {op} {given!r}",
                f"{has} AND JSONExtractString({value}) {NUMERIC_OPS[op]} {c.param(given, 'String')}")  # fmt: skip
    return (f"profile {name} {op} {given}",
            f"{has} AND JSONExtractFloat({value}) {NUMERIC_OPS[op]} {c.param(float(given), 'Float64')}")  # fmt: skip


def _consent(c: _Compiler, node: Mapping[str, Any], path: str) -> tuple[str, str]:
    _only(node, path, {"consent", "state"})
    spec = node["consent"]
    if not isinstance(spec, Mapping):
        raise RuleError(f"{path}.consent", 'expected {"channel": ..., "purpose": ...}')
    _only(spec, f"{path}.consent", {"channel", "purpose"})
    channel, purpose = spec.get("channel"), spec.get("purpose")
    if channel not in CHANNELS:
        raise RuleError(f"{path}.consent.channel", f"expected one of {', '.join(CHANNELS)}")
    if purpose not in PURPOSES:
        raise RuleError(f"{path}.consent.purpose", f"expected one of {', '.join(PURPOSES)}")
    if "state" not in node:
        raise RuleError(f"{path}.state", f"missing: one of {', '.join(STATES)}, or a list")
    states = node["state"] if isinstance(node["state"], list) else [node["state"]]
    if not states or any(s not in STATES for s in states):
        raise RuleError(f"{path}.state", f"expected one of {', '.join(STATES)}, or a list")
    i = len(c.consent)
    c.consent.append((str(channel), str(purpose)))
    c.joins.add("cs")
    state = f"if(cs.s{i} = '', 'unknown', cs.s{i})"
    return (f"consent {channel}/{purpose} is {' or '.join(states)}",
            f"{state} IN {c.param(list(states), 'Array(String)')}")  # fmt: skip


def _engagement(c: _Compiler, node: Mapping[str, Any], path: str) -> tuple[str, str]:
    _only(node, path, {"engagement", "op", "value"})
    if node["engagement"] != "score":
        raise RuleError(f"{path}.engagement", 'expected "score"')
    op, number = _op(node, path, tuple(NUMERIC_OPS)), _number(node, path)
    c.joins.add("en")
    return (f"engagement score {op} {number}",
            f"en.present AND en.score {NUMERIC_OPS[op]} {c.param(number, 'Float64')}")  # fmt: skip


def _rfm(c: _Compiler, node: Mapping[str, Any], path: str) -> tuple[str, str]:
    _only(node, path, {"rfm", "op", "value"})
    name = node["rfm"]
    c.joins.add("rf")
    if name in RFM_TEXT:
        op = _op(node, path, TEXT_OPS)
        column = f"if(rf.present, rf.{RFM_TEXT[name]}, 'unknown')"
        if op == "in":
            items = _texts(_value(node, path), f"{path}.value")
            return f"rfm {name} in {items}", f"{column} IN {c.param(items, 'Array(String)')}"
        text = _text(_value(node, path), f"{path}.value")
        return (f"rfm {name} {op} {text!r}",
                f"{column} {NUMERIC_OPS[op]} {c.param(text, 'String')}")  # fmt: skip
    if name in RFM_NUMBER:
        op, number = _op(node, path, tuple(NUMERIC_OPS)), _number(node, path)
        column = f"toFloat64(rf.{RFM_NUMBER[name]})"
        return (f"rfm {name} {op} {number}",
                f"rf.present AND {column} {NUMERIC_OPS[op]} {c.param(number, 'Float64')}")  # fmt: skip
    known = ", ".join((*RFM_TEXT, *RFM_NUMBER))
    raise RuleError(f"{path}.rfm", f"expected one of {known}")


def _touchpoints(c: _Compiler, node: Mapping[str, Any], path: str) -> tuple[str, str]:
    _only(node, path, {"touchpoints", "op", "value"})
    spec = node["touchpoints"]
    where = f"{path}.touchpoints"
    if not isinstance(spec, Mapping):
        raise RuleError(where, 'expected {"type": ..., "channel": ..., "within_days": N}')
    _only(spec, where, {"type", "channel", "within_days"})
    days = spec.get("within_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise RuleError(
            f"{where}.within_days", f"expected a whole number of days, 1 to {MAX_WINDOW_DAYS}"
        )
    since = c.now - timedelta(days=days)
    parts = ["t.occurred_at >= " + c.param(since, "DateTime64(3, 'UTC')")]
    words = []
    for key in ("type", "channel"):
        if key in spec:
            value = spec[key]
            if not isinstance(value, str) or not _TYPE.match(
                value if key == "type" else f"x.{value}"
            ):
                raise RuleError(
                    f"{where}.{key}",
                    f"expected a {key} name like {'email.opened' if key == 'type' else 'email'}",
                )
            parts.append(f"t.{key} = {c.param(value, 'String')}")
            words.append(f"{key} {value}")
    op, number = _op(node, path, tuple(NUMERIC_OPS)), _number(node, path)
    i = len(c.windows)
    c.windows.append(" AND ".join(parts))
    c.joins.add("tp")
    return (f"touchpoints ({', '.join(words) or 'any'}) in the last {days} days {op} {number:g}",
            f"tp.n{i} {NUMERIC_OPS[op]} {c.param(number, 'Float64')}")  # fmt: skip


_LEAVES = {"profile": _profile, "consent": _consent, "engagement": _engagement, "rfm": _rfm,
           "touchpoints": _touchpoints}  # fmt: skip


def _op(node: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> str:
    op = node.get("op")
    if op not in allowed:
        raise RuleError(f"{path}.op", f"expected one of {', '.join(allowed)}")
    return str(op)


def _value(node: Mapping[str, Any], path: str) -> Any:
    if "value" not in node:
        raise RuleError(f"{path}.value", "missing")
    return node["value"]


def _number(node: Mapping[str, Any], path: str) -> float:
    value = _value(node, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{path}.value", "expected a number")
    return float(value)


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 500:
        raise RuleError(path, "expected a string (1 to 500 characters)")
    return value


def _texts(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > 1000:
        raise RuleError(path, "expected a non-empty list of strings")
    return [_text(v, f"{path}[{i}]") for i, v in enumerate(value)]


# Every surviving, not erased customer of the tenant: the rows a rule is evaluated over.
_BASE = ("SELECT customer_id FROM customers WHERE tenant = {tenant:String} GROUP BY customer_id "
         "HAVING argMax(survivor_id, version) = customer_id AND NOT argMax(erased, version)")  # fmt: skip
_SURVIVOR = ("if(s.survivor_id = toUUID('00000000-0000-0000-0000-000000000000'), "
             "t.customer_id, s.survivor_id)")  # fmt: skip


def _joins(c: _Compiler) -> str:
    joins = []
    if "pf" in c.joins:
        cols = ", ".join(
            f"anyIf(value, field = {c.param(f, 'String')}) AS f{i}, "
            f"countIf(field = {c.param(f, 'String')}) > 0 AS h{i}"
            for i, f in enumerate(c.profile)
        )
        joins.append(f"SELECT customer_id, {cols} FROM profiles WHERE tenant = {{tenant:String}} "
                     "GROUP BY customer_id) AS pf ON pf.customer_id = b.customer_id")  # fmt: skip
    if "cs" in c.joins:
        cols = ", ".join(
            f"anyIf(state, channel = {c.param(ch, 'String')} AND purpose = {c.param(pu, 'String')}) AS s{i}"
            for i, (ch, pu) in enumerate(c.consent)
        )
        joins.append(f"SELECT customer_id, {cols} FROM consent_state WHERE tenant = {{tenant:String}} "
                     "GROUP BY customer_id) AS cs ON cs.customer_id = b.customer_id")  # fmt: skip
    if "en" in c.joins:
        joins.append("SELECT customer_id, argMax(score, as_of) AS score, 1 AS present "
                     "FROM engagement_current WHERE tenant = {tenant:String} GROUP BY customer_id) "
                     "AS en ON en.customer_id = b.customer_id")  # fmt: skip
    if "rf" in c.joins:
        joins.append(
            "SELECT customer_id, segment, churn_risk, recency_days, frequency, monetary, present, "
            "ntile(10) OVER (ORDER BY monetary ASC, customer_id ASC) AS decile FROM ("
            "SELECT customer_id, argMax(segment, as_of) AS segment, argMax(churn_risk, as_of) AS "
            "churn_risk, argMax(recency_days, as_of) AS recency_days, argMax(frequency, as_of) AS "
            "frequency, argMax(monetary, as_of) AS monetary, 1 AS present FROM rfm "
            "WHERE tenant = {tenant:String} GROUP BY customer_id)) AS rf ON rf.customer_id = b.customer_id"
        )
    if "tp" in c.joins:
        cols = ", ".join(f"uniqExactIf(t.event_id, {w}) AS n{i}" for i, w in enumerate(c.windows))
        joins.append(
            f"SELECT {_SURVIVOR} AS customer_id, {cols} FROM touchpoints AS t "
            "LEFT JOIN customer_survivors AS s ON s.tenant = t.tenant AND s.customer_id = t.customer_id "
            "WHERE t.tenant = {tenant:String} GROUP BY customer_id) AS tp ON tp.customer_id = b.customer_id"
        )
    return "\n".join(f"LEFT JOIN ({j}" for j in joins)


def describe(rule: CompiledRule) -> list[dict[str, str]]:
    """The conditions in words, with their paths (what ``show`` and a change's reason say)."""
    return [{"path": c.path, "text": c.text} for c in rule.conditions]
