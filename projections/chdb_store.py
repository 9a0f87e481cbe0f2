"""``ChdbProjectionStore``: the projection store in-process, on chDB (the embedded default).

chDB runs ClickHouse inside this process, so there is no server to install,
but its data directory opens in one process only, and one process can hold
only one directory at a time (a second path fails with "EmbeddedServer already
initialized"). In embedded mode the process that owns the directory serves
both writes and reads.

Facts measured on chDB 4.4 (ClickHouse 26.9), which the choices below rest on:

- **Inserts** go through ``INSERT INTO t (cols) SETTINGS ... SELECT cols FROM
  Python(name)``: chDB reads the Arrow table in place, ~1.5 M rows/s for
  touchpoint-like rows, three times the ``send_insert`` ArrowStream path
  (~0.5 M rows/s, which also ignores ``insert_deduplicate=0`` given in the
  statement). ``Python(name)`` finds ``name`` by looking through the calling
  Python frames, so the table is bound to a local with a name nothing else uses.
- **Dedup tokens** work on plain MergeTree only with the table setting
  ``non_replicated_deduplication_window`` > 0: with it, a second insert with
  the same ``insert_deduplication_token`` is dropped even when its rows differ,
  and survives closing and reopening the directory; without it both copies stay.
  With the window and no token, an insert whose block hashes like a recent one
  is dropped too (so identical batches without a token are not an error).
- **Parameters**: ``Session.query(sql, params=...)`` binds ``{name:Type}``
  placeholders server-side, but passes each value as text that ClickHouse
  parses in its escaped form: a raw backslash or newline breaks it, a Python
  list or ``datetime`` is not understood, and ``DateTime`` refuses a fraction.
  ``render_param`` writes the values the way clickhouse-connect does for the
  HTTP adapter, so the same SQL and values behave the same on both.
- The ``Session`` claims to be thread-safe, but a streaming call holds the
  connection and ``close`` races with queries; one lock serializes every call.
- An Arrow query that fails while it runs (a limit such as ``max_execution_time``,
  ``throwIf``) leaves its partial output behind, and the next query of any format
  fails to decode ("Message metadata too long", a ``UnicodeDecodeError``); ``_run``
  discards it with one throwaway query.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from chdb import session as chdb_session

from projections.store import (
    DEDUP_SETTINGS,
    READ_SETTINGS,
    Params,
    ParamValue,
    ProjectionStoreError,
    ProjectionStoreUnavailable,
    Row,
    Scalar,
    as_utc,
    rows_of,
)

_PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class ChdbProjectionStore:
    """The projections in a chDB data directory owned by this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._session: Any = _open_session(path)
            for name, value in READ_SETTINGS.items():
                self._session.query(f"SET {name} = {value}")
        except RuntimeError as exc:  # chdb raises RuntimeError (ChdbError is one) on open
            raise ProjectionStoreUnavailable(
                f"cannot open chDB data directory {path}: {exc} "
                "(a chDB directory opens in one process only, and a process holds one path)"
            ) from exc

    def command(self, sql: str, params: Params | None = None) -> None:
        self._run(sql, "TabSeparated", params)

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        result = self._run(sql, "ArrowTable", params)
        if not isinstance(result, pa.Table):  # a statement without a result set
            raise ProjectionStoreError(f"not a query returning rows: {sql[:200]}")
        return result

    def query_rows(self, sql: str, params: Params | None = None) -> list[Row]:
        return rows_of(self.query_arrow(sql, params))

    def insert_arrow(self, table: str, rows: pa.Table, dedup_token: str | None = None) -> int:
        if rows.num_rows == 0:
            return 0
        columns = ", ".join(_quote_name(name) for name in rows.column_names)
        settings = dict(DEDUP_SETTINGS)
        if dedup_token is not None:
            settings["insert_deduplication_token"] = _quote_value(dedup_token)
        touchline_insert_rows = rows  # noqa: F841  (read by name by chDB's Python() table function)
        sql = (
            f"INSERT INTO {_quote_table(table)} ({columns}) SETTINGS {_settings_text(settings)} "
            f"SELECT {columns} FROM Python(touchline_insert_rows)"
        )
        self._run(sql, "TabSeparated", None)
        return int(rows.num_rows)

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _run(self, sql: str, fmt: str, params: Params | None) -> Any:
        bound = render_params(sql, params) if params else None
        with self._lock:
            if self._session is None:
                raise ProjectionStoreError("the chDB projection store is closed")
            try:
                return self._session.query(sql, fmt, params=bound)
            except RuntimeError as exc:
                if fmt == "ArrowTable":
                    self._discard_partial_result()
                raise ProjectionStoreError(str(exc)) from exc

    def _discard_partial_result(self) -> None:
        """After an Arrow query fails while running, chDB keeps the part it wrote (the stream
        header) and prepends it to the next query's result, whatever its format; one
        throwaway query takes it. Harmless when nothing was left (the error came earlier)."""
        with contextlib.suppress(RuntimeError):
            self._session.query("SELECT 1", "TabSeparated")


def _open_session(path: str) -> Any:
    """chdb ships ``py.typed`` but leaves ``Session`` unannotated; it is used as ``Any``."""
    factory: Any = chdb_session.Session
    return factory(path)


def render_params(sql: str, params: Params) -> dict[str, str]:
    """Each value as the text ClickHouse parses for its ``{name:Type}`` placeholder."""
    declared = {name: type_ for name, type_ in _PLACEHOLDER.findall(sql)}
    return {
        name: render_param(value, "datetime64" in declared.get(name, "").lower())
        for name, value in params.items()
    }


def render_param(value: ParamValue, subsecond: bool = True) -> str:
    """A top-level parameter value: escaped text, not quoted; ``\\N`` for NULL.

    ``subsecond`` keeps milliseconds (for ``DateTime64``); a ``DateTime``
    placeholder gets whole seconds, as clickhouse-connect sends them.
    """
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_literal(item, subsecond) for item in value) + "]"
    return _plain(value, subsecond)


def _literal(value: Scalar, subsecond: bool) -> str:
    """An element inside an array: a SQL literal (quoted strings, NULL)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return _plain(value, subsecond)
    return "'" + _escape(_plain(value, subsecond)) + "'"


def _plain(value: Scalar, subsecond: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        utc = as_utc(value)
        text = utc.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{utc.microsecond // 1000:03d}" if subsecond else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | uuid.UUID | str):
        return str(value)
    raise TypeError(f"unsupported parameter value {value!r}")


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in text)


def _quote_value(text: str) -> str:
    return "'" + _escape(text) + "'"


def _quote_name(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_table(table: str) -> str:
    """``table`` or ``database.table``; anything else is refused rather than quoted into SQL."""
    if not _NAME.fullmatch(table):
        raise ValueError(f"not a table name: {table!r}")
    return ".".join(_quote_name(part) for part in table.split("."))


def _settings_text(settings: Mapping[str, str]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in settings.items())
