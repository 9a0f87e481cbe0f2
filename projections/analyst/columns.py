"""Every column a query names must be one its tables, subqueries, aliases or lambdas define.

The check is deliberately loose about scope (a name defined anywhere in the query counts
everywhere in it): its job is a clear refusal for a misspelt or undocumented column,
naming it, before the engine sees the query. ClickHouse still resolves names exactly,
and refuses what this lets through; a subquery whose columns cannot be worked out here
(``SELECT *`` over something that is not a table) leaves bare names to it. One rule is
strict: an alias does not define its own name inside its own expression, so
``SELECT x AS x`` needs a real ``x``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from projections.analyst.catalog import AnalystCatalog
from projections.analyst.errors import SqlRefused


def where(node: exp.Expr) -> tuple[int | None, int | None]:
    """Line and column (1-based) where ``node``, or the first token inside it, starts."""
    for candidate in node.walk():
        meta = candidate.meta
        line, column, start, end = (meta.get(k) for k in ("line", "col", "start", "end"))
        if isinstance(line, int) and isinstance(column, int):
            width = end - start if isinstance(start, int) and isinstance(end, int) else 0
            return line, column - width  # sqlglot records where the token ends
    return None, None


def check_columns(tree: exp.Expr, catalog: AnalystCatalog) -> None:
    names = _Names.of(tree, catalog)
    for column in tree.find_all(exp.Column):
        names.check(column)


@dataclass
class _Names:
    """What the query defines: sources by qualifier, and bare names with where they are set."""

    catalog: AnalystCatalog
    ctes: dict[str, exp.Expr]  # WITH name AS (subquery): name -> subquery
    sources: dict[str, frozenset[str] | None] = field(default_factory=dict)  # None: any column
    labels: dict[str, str] = field(default_factory=dict)  # qualifier -> the table it stands for
    columns: set[str] = field(default_factory=set)  # of every source whose columns are known
    aliases: dict[str, list[exp.Expr]] = field(default_factory=lambda: defaultdict(list))
    bound: set[str] = field(default_factory=set)  # lambda parameters, AS t(a, b) columns
    open_source: bool = False  # a source whose columns are not known here is in the query

    @classmethod
    def of(cls, tree: exp.Expr, catalog: AnalystCatalog) -> _Names:
        ctes = {cte.alias: cte.this for cte in tree.find_all(exp.CTE) if not cte.args.get("scalar")}
        names = cls(catalog, ctes)
        for node in tree.walk():
            if isinstance(node, exp.Table):
                names.add_source([node.name, node.alias], names.table_columns(node.name), node.name)
            elif isinstance(node, exp.Subquery):
                names.add_source([node.alias], names.outputs(node.this))
            elif isinstance(node, exp.CTE) and not node.args.get("scalar"):
                names.add_source([], names.outputs(node.this))
            names.add_aliases(node)
        return names

    def add_source(
        self, qualifiers: Iterable[str], columns: frozenset[str] | None, label: str = ""
    ) -> None:
        for qualifier in filter(None, qualifiers):
            self.sources[qualifier] = columns
            self.labels[qualifier] = label or qualifier
        if columns is None:
            self.open_source = True
        else:
            self.columns |= columns

    def add_aliases(self, node: exp.Expr) -> None:
        if isinstance(node, exp.Alias) or (isinstance(node, exp.CTE) and node.args.get("scalar")):
            self.aliases[node.alias].append(node.this)
        elif isinstance(node, exp.TableAlias):
            self.bound.update(column.name for column in node.columns)
        elif isinstance(node, exp.Lambda):
            self.bound.update(parameter.name for parameter in node.expressions)

    def table_columns(self, name: str, depth: int = 0) -> frozenset[str] | None:
        """An analyst table's columns, or what the WITH subquery of that name gives."""
        if name in self.ctes:
            return self.outputs(self.ctes[name], depth + 1)
        return self.catalog.columns.get(name)

    def outputs(self, query: exp.Expr, depth: int = 0) -> frozenset[str] | None:
        """The column names a subquery gives, or None when they cannot be known here."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(query, exp.Subquery):
            return self.outputs(query.this, depth + 1)
        if isinstance(query, exp.SetOperation):
            return self.outputs(query.left, depth + 1)
        if not isinstance(query, exp.Select):
            return None
        names: set[str] = set()
        for expression in query.expressions:
            if isinstance(expression, exp.Star) or expression.is_star:
                star = self._star(query, depth)
                if star is None:
                    return None
                names |= star
            else:
                names.add(expression.alias_or_name)
        return frozenset(names)

    def _star(self, query: exp.Select, depth: int) -> frozenset[str] | None:
        """What ``*`` stands for in ``query``: the columns of all of its sources."""
        sources = [query.args.get("from_"), *(query.args.get("joins") or [])]
        found: set[str] = set()
        for source in sources:
            this = source.this if source is not None else None
            this = this.this if isinstance(this, exp.Final) else this
            if isinstance(this, exp.Table):
                columns = self.table_columns(this.name, depth + 1)
            elif isinstance(this, exp.Subquery):
                columns = self.outputs(this.this, depth + 1)
            else:
                columns = None if this is not None else frozenset()
            if columns is None:
                return None
            found |= columns
        return frozenset(found)

    def check(self, column: exp.Column) -> None:
        if column.args.get("db") or column.args.get("catalog"):
            raise SqlRefused(
                "qualified_column",
                f"name columns as table.column at most: {column.sql()}",
                *where(column),
            )
        if isinstance(column.this, exp.Literal):  # t.1: element 1 of tuple t
            self._check_bare(column.table, column)
        elif column.table:
            self._check_qualified(column.table, column.name, column)
        elif not isinstance(column.this, exp.Star):
            self._check_bare(column.name, column)

    def _check_qualified(self, qualifier: str, name: str, column: exp.Column) -> None:
        if qualifier not in self.sources:
            if self._defined(qualifier, column):
                return  # an element of a tuple or map column: ClickHouse checks the type
            raise SqlRefused(
                "unknown_column",
                f"{qualifier}.{name}: no table or alias {qualifier} in the query",
                *where(column),
            )
        known = self.sources[qualifier]
        if known is not None and name != "*" and name not in known:
            label = self.labels[qualifier]
            source = qualifier if label == qualifier else f"{qualifier} ({label})"
            raise SqlRefused("unknown_column", f"{source} has no column {name}", *where(column))

    def _check_bare(self, name: str, column: exp.Column) -> None:
        if not (self._defined(name, column) or self.open_source):
            raise SqlRefused("unknown_column", f"unknown column {name}", *where(column))

    def _defined(self, name: str, column: exp.Column) -> bool:
        """A column of a source, a lambda parameter, or an alias set outside this column's own
        expression (``x AS x`` does not define ``x`` for itself)."""
        if name in self.columns or name in self.bound:
            return True
        return any(not _within(column, aliased) for aliased in self.aliases.get(name, []))


_MAX_DEPTH = 64  # WITH subqueries may name each other; a cycle is ClickHouse's to refuse


def _within(node: exp.Expr, ancestor: exp.Expr) -> bool:
    parent: exp.Expr | None = node
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False
