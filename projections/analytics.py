"""The worked analyst queries, read from ``docs/analytics.md`` so the page and the tests agree.

The page is the single source: each query is a fenced ``sql`` block preceded
by a ``<!-- query: NAME -->`` line. Loading them from there (rather than
keeping a copy here) means the SQL an analyst copies is the SQL the test
suite runs through ``run_analyst_query``.

``run_analyst_query`` takes no parameters (the guard refuses placeholders),
so a query that needs a value opens with a placeholder binding an analyst
edits by hand, ``now64(3, 'UTC') AS as_of`` or ``toUUID('0000...') AS
customer``. ``bind`` replaces those bindings with literals rendered from typed
Python values (an aware ``datetime``, a ``uuid.UUID``), never from free text,
so nothing a caller passes can change the SQL's shape.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

#: ``docs/analytics.md``, found as a package resource (``projections/analytics.md`` links to it)
#: so that an installed wheel, which has no ``docs/``, serves the same queries.
ANALYTICS_DOC = Path(str(files("projections") / "analytics.md"))
AS_OF_BINDING = "now64(3, 'UTC') AS as_of"
CUSTOMER_BINDING = "toUUID('00000000-0000-0000-0000-000000000000') AS customer"

_NAMED_BLOCK = re.compile(
    r"^<!-- query: (?P<name>[a-z0-9_]+) -->\n```sql\n(?P<sql>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_MARKER = re.compile(r"^<!--\s*query:", re.MULTILINE)


class QueryDocError(ValueError):
    """The page is malformed: a marker without its block, or one name used twice."""


def documented_queries(doc: Path = ANALYTICS_DOC) -> dict[str, str]:
    """Name -> SQL of every ``<!-- query: NAME -->`` block, in page order.

    A marker that is not immediately followed by a ``sql`` fence, or a name
    used twice, raises ``QueryDocError``: a query silently dropped from the
    dict would also drop out of the tests.
    """
    text = doc.read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    for match in _NAMED_BLOCK.finditer(text):
        name = match["name"]
        if name in queries:
            raise QueryDocError(f"{doc.name}: query {name!r} is documented twice")
        queries[name] = match["sql"].strip()
    markers = len(_MARKER.findall(text))
    if markers != len(queries):
        raise QueryDocError(
            f"{doc.name}: {markers} query markers but {len(queries)} are followed by a sql block"
        )
    return queries


def bind(sql: str, as_of: datetime | None = None, customer: uuid.UUID | None = None) -> str:
    """``sql`` with its placeholder bindings replaced by these values (None keeps the default).

    Raises ``ValueError`` when a value is given for a binding the query does
    not have: a query edited so that its window no longer follows ``as_of``
    should fail loudly, not run over ``now()``.
    """
    if as_of is not None:
        if as_of.tzinfo is None:
            raise ValueError(f"as_of must be timezone-aware: {as_of!r}")
        instant = as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        sql = _replace(sql, AS_OF_BINDING, f"toDateTime64('{instant}', 3, 'UTC') AS as_of")
    if customer is not None:
        sql = _replace(sql, CUSTOMER_BINDING, f"toUUID('{customer}') AS customer")
    return sql


def _replace(sql: str, binding: str, literal: str) -> str:
    if sql.count(binding) != 1:
        raise ValueError(f"the query does not bind exactly once: {binding}")
    return sql.replace(binding, literal)
