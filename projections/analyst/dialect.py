"""sqlglot's ClickHouse dialect, tuned to check analyst SQL and to write it back unchanged.

sqlglot normally turns known functions into its own typed nodes and writes them back
in its own words (``toMonday(t)`` becomes ``dateTrunc('WEEK', t)``, ``if(a, b, c)`` a
``CASE``): fine for translating between engines, wrong for a guard whose output must
mean what the analyst wrote. Here every ``name(args)`` stays an anonymous call that is
written back as it was, so the allowlist sees ClickHouse's own name; only the calls
with SQL syntax inside their parentheses (``CAST(x AS T)``, ``EXTRACT(DAY FROM d)``,
``TRIM(BOTH ' ' FROM s)``, ``POSITION(a IN b)``, ``SUBSTRING(s FROM 1)``) keep their
parsers. Two gaps in sqlglot 30 are closed: ``LIMIT n BY x LIMIT m`` (ClickHouse runs
both, sqlglot refuses the second ``LIMIT``), and ``a DIV b`` is written ``intDiv(a, b)``
(sqlglot writes a ``CAST`` to a nullable type).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.generators.clickhouse import ClickHouseGenerator
from sqlglot.parsers.clickhouse import ClickHouseParser
from sqlglot.tokenizer_core import TokenType

_SYNTAX_CALLS = frozenset({"CAST", "TRY_CAST", "EXTRACT", "POSITION", "SUBSTRING", "TRIM"})


class AnalystParser(ClickHouseParser):
    FUNCTIONS: ClassVar[dict[str, Any]] = {}
    FUNCTION_PARSERS: ClassVar[dict[str, Any]] = {
        name: parse
        for name, parse in ClickHouseParser.FUNCTION_PARSERS.items()
        if name in _SYNTAX_CALLS
    }
    NO_PAREN_FUNCTION_PARSERS: ClassVar[dict[str, Any]] = {
        "CASE": ClickHouseParser.NO_PAREN_FUNCTION_PARSERS["CASE"]
    }
    NO_PAREN_FUNCTIONS: ClassVar[dict[Any, Any]] = {}

    def _parse_limit(
        self, this: exp.Expr | None = None, top: bool = False, skip_limit_token: bool = False
    ) -> exp.Expr | None:
        """``LIMIT n BY x`` may be followed by a plain ``LIMIT m``: nest it, as written."""
        limit = super()._parse_limit(this, top=top, skip_limit_token=skip_limit_token)
        if (
            isinstance(limit, exp.Limit)
            and limit.expressions
            and self._curr is not None
            and self._curr.token_type == TokenType.LIMIT
        ):
            return super()._parse_limit(limit)
        return limit


class AnalystGenerator(ClickHouseGenerator):
    def intdiv_sql(self, expression: exp.IntDiv) -> str:
        return self.func("intDiv", expression.this, expression.expression)


class AnalystClickHouse(ClickHouse):
    Parser = AnalystParser
    Generator = AnalystGenerator


DIALECT = AnalystClickHouse()


def parse(sql: str) -> list[exp.Expr]:
    """Every statement in ``sql`` (an empty trailing one, after a last ``;``, is dropped)."""
    return [statement for statement in DIALECT.parse(sql) if statement is not None]


def render(tree: exp.Expr) -> str:
    """``tree`` as ClickHouse SQL: every identifier quoted, no comments."""
    return DIALECT.generate(tree, comments=False, identify=True)
