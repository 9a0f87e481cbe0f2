"""Per-query limits, sent as ClickHouse settings by us, and the engine's errors translated.

The analyst cannot pass ``SETTINGS`` (the guard refuses it) and the query runs under
``readonly = 1``, so these are the limits it runs under. ClickHouse stops a query that
crosses one with an error code, which ``engine_error`` turns into ``QueryLimitHit``
naming the limit; any other engine error on the analyst's SQL (an unknown identifier, a
type mismatch) becomes a ``SqlRefused`` with ClickHouse's first line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from projections.analyst.errors import AnalystQueryError, QueryLimitHit, SqlRefused

EXECUTION_TIME, MEMORY, ROWS_READ, ROWS_RETURNED = (
    "execution_time",
    "memory",
    "rows_read",
    "rows_returned",
)
# ClickHouse error codes (src/Common/ErrorCodes.cpp) -> the limit that raised them.
_LIMIT_CODES = {
    158: ROWS_READ,  # TOO_MANY_ROWS: max_rows_to_read
    159: EXECUTION_TIME,  # TIMEOUT_EXCEEDED: max_execution_time
    160: EXECUTION_TIME,  # TOO_SLOW: the estimated time would pass max_execution_time
    241: MEMORY,  # MEMORY_LIMIT_EXCEEDED: max_memory_usage
    396: ROWS_RETURNED,  # TOO_MANY_ROWS_OR_BYTES: max_result_rows
}
_ENGINE_MESSAGE = re.compile(r"Code: (\d+)\. DB::\w*Exception: (.*)")
_MAX_MESSAGE = 500


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """What one analyst query may use; the defaults suit an interactive question."""

    max_execution_seconds: float = 10.0
    max_memory_bytes: int = 1 << 30
    max_rows_read: int = 100_000_000
    max_rows_returned: int = 100_000

    def __post_init__(self) -> None:
        for name in ("max_execution_seconds", "max_memory_bytes", "max_rows_read"):
            if not getattr(self, name) > 0:
                raise ValueError(f"QueryLimits.{name} must be positive, not {getattr(self, name)}")
        if self.max_rows_returned < 0:
            raise ValueError("QueryLimits.max_rows_returned must be 0 or more")

    def settings(self) -> dict[str, str]:
        """The limits as ClickHouse settings (values as SQL literals)."""
        return {
            "max_execution_time": repr(float(self.max_execution_seconds)),
            "timeout_overflow_mode": "'throw'",
            "max_memory_usage": str(int(self.max_memory_bytes)),
            "max_rows_to_read": str(int(self.max_rows_read)),
            "read_overflow_mode": "'throw'",
        }


def engine_error(message: str) -> AnalystQueryError:
    """ClickHouse's refusal of the analyst's query: a limit hit, or a refusal of the SQL."""
    match = _ENGINE_MESSAGE.search(message)
    if match is None:
        return SqlRefused("engine", _first_line(message))
    # "In scope <the query>" would repeat our wrapper and its filters back to the analyst.
    code, text = int(match[1]), _first_line(match[2].split(" In scope ", 1)[0])
    limit = _LIMIT_CODES.get(code)
    if limit is not None:
        return QueryLimitHit(limit, f"the query stopped at its {limit} limit: {text}")
    return SqlRefused("engine", text)


def rows_returned_hit(limits: QueryLimits) -> QueryLimitHit:
    return QueryLimitHit(
        ROWS_RETURNED,
        f"the result has more than {limits.max_rows_returned:,} rows: aggregate it, or add a LIMIT",
    )


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "ClickHouse refused the query"
    return line[:_MAX_MESSAGE]
