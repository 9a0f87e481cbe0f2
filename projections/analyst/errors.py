"""What an analyst's query can fail with: a refusal (fix the SQL) or a limit hit (ask for less).

Both carry a machine code for the HTTP layer (a 4xx either way) and a message for the
person; neither is a server fault. A store that cannot be reached stays a
``ProjectionStoreUnavailable`` (a 5xx: retry later).
"""

from __future__ import annotations


class AnalystQueryError(Exception):
    """The analyst's query did not run, for a reason the analyst can act on."""

    code: str
    message: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SqlRefused(AnalystQueryError):
    """The query is not allowed, or ClickHouse refused it as SQL (``code`` says which rule).

    ``line`` and ``column`` (1-based) point at the offending token when sqlglot knows it.
    """

    def __init__(
        self, code: str, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(code, message)
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line is not None else ""
        return f"{self.message}{where}"


class QueryLimitHit(AnalystQueryError):
    """ClickHouse stopped the query at one of its ``QueryLimits`` (``limit`` names which)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__("limit_exceeded", message)
        self.limit = limit
