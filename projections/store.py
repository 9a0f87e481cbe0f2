"""The projection-store port: what the projector, replay and query services need of ClickHouse.

Two adapters implement it with the same DDL and the same SQL:
``ChdbProjectionStore`` (chDB, the in-process engine, the embedded default) and
``ClickHouseProjectionStore`` (a ClickHouse server over HTTP, via
clickhouse-connect). ``open_projection_store`` picks one from
``TOUCHLINE_CLICKHOUSE_URL``.

What a caller may rely on, on both adapters:

- **Parameters** are ClickHouse's own server-side ``{name:Type}`` placeholders,
  never string formatting: ``store.query_rows("SELECT ... WHERE tenant =
  {tenant:String}", {"tenant": t})``. Values may be ``str``, ``int``,
  ``float``, ``bool``, ``None`` (for a ``Nullable`` type), an aware
  ``datetime`` (sent in UTC with milliseconds: declare ``DateTime64(3, 'UTC')``),
  a ``date``, a ``uuid.UUID``, or a list of these (for ``Array(T)``).
- **Reads** come back through ClickHouse's Arrow output format on both sides,
  so a row holds the same Python types whichever engine produced it: ``str``,
  ``int``, ``float``, ``bool``, ``Decimal``, ``uuid.UUID``, ``datetime`` (aware,
  UTC), ``date``, lists, and ``Map`` columns as lists of ``(key, value)``.
- **Inserts** are columnar (one Arrow table per call, never row by row); a
  call is one INSERT, so its rows become visible together.
- **Idempotent re-delivery**: an insert with a ``dedup_token`` that the table
  has already seen among its last ``non_replicated_deduplication_window``
  inserts is dropped, whatever its rows, and so are the rows materialized
  views would have derived from it (see ``DEDUP_SETTINGS``). Give every retry
  of the same batch the same token, derived from what the batch is (topic,
  partition, first and last offset), never from when it was sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeAlias

import pyarrow as pa

Scalar: TypeAlias = str | int | float | bool | datetime | date | uuid.UUID | None
ParamValue: TypeAlias = Scalar | Sequence[Scalar]
Params: TypeAlias = Mapping[str, ParamValue]
Row: TypeAlias = tuple[Any, ...]

# Settings sent with every tokened insert, on both engines. Measured on chDB
# 26.9 (and ClickHouse documents the same for servers):
# - a plain (non-replicated) MergeTree ignores ``insert_deduplication_token``
#   unless the table has ``non_replicated_deduplication_window`` > 0; every
#   table that takes projector inserts sets it in its migration;
# - a materialized view's target table deduplicates the derived block only if
#   ``deduplicate_blocks_in_dependent_materialized_views`` is on (the default
#   since 24.x, but not on older servers) AND the target has its own window;
#   otherwise a re-delivered batch is dropped from the source table but
#   counted twice in the aggregates;
# - ``async_insert`` is the default in chDB; a buffered insert would return
#   before its rows are readable and dedups under other rules, so it is off.
DEDUP_SETTINGS: Mapping[str, str] = {
    "deduplicate_blocks_in_dependent_materialized_views": "1",
    "async_insert": "0",
}

# Arrow output with ``String`` as Arrow strings (not binary), on both engines.
READ_SETTINGS: Mapping[str, str] = {"output_format_arrow_string_as_string": "1"}


class ProjectionStoreError(Exception):
    """ClickHouse refused a statement (bad SQL, unknown table, a value of the wrong type)."""


class ProjectionStoreUnavailable(ProjectionStoreError):
    """The store cannot be reached or opened now; retrying later may succeed.

    On chDB this also means another process (or another path in this process)
    owns the embedded engine: a chDB data directory opens in one process only.
    """


class ProjectionStore(Protocol):
    """One ClickHouse database holding Touchline's projections."""

    def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, INSERT ... SELECT, ALTER)."""
        ...

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run a SELECT and return its result as an Arrow table (ClickHouse's Arrow format)."""
        ...

    def query_rows(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a SELECT and return its rows as tuples, in the order the SQL gives."""
        ...

    def insert_arrow(self, table: str, rows: pa.Table, dedup_token: str | None = None) -> int:
        """Insert ``rows`` (columns matched by name; absent ones take their defaults) in one INSERT.

        With ``dedup_token``, a repeat of an insert already seen by the table is
        dropped (see the module docstring). Returns the number of rows sent
        (a dropped duplicate still counts: the engine does not say).
        """
        ...

    def close(self) -> None:
        """Release the connection (on chDB, the data directory). Calling it twice is harmless."""
        ...


def open_projection_store(url: str) -> ProjectionStore:
    """The store at ``url``: ``chdb:///abs/path`` (embedded) or ``http(s)://user:pw@host:port/db``.

    The adapter modules are imported here, not at the top, so that a process
    that talks to a server never loads chDB's engine and vice versa.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "chdb":
        from projections.chdb_store import ChdbProjectionStore

        return ChdbProjectionStore(chdb_path(url))
    if scheme in ("http", "https"):
        from projections.clickhouse_store import ClickHouseProjectionStore

        return ClickHouseProjectionStore(url)
    raise ValueError(
        f"unsupported projection store URL {url!r}: use chdb:///abs/path or http(s)://"
    )


def chdb_path(url: str) -> str:
    """The directory of a ``chdb://`` URL; three or more slashes both mean an absolute path.

    ``Settings`` writes ``chdb:///`` followed by an already absolute path, so
    four slashes are normal and are folded into one.
    """
    rest = url.split("://", 1)[1].split("?", 1)[0]
    if not rest.startswith("/") or rest.strip("/") == "":
        raise ValueError(
            f"chDB URL needs an absolute directory, like chdb:///var/touchline: {url!r}"
        )
    return "/" + rest.lstrip("/")


def rows_of(table: pa.Table) -> list[Row]:
    """Arrow result to row tuples; both adapters use this, so both give the same Python values."""
    columns = [column.to_pylist() for column in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


def as_utc(value: datetime) -> datetime:
    """A naive datetime is ambiguous; refuse it rather than guess the zone."""
    if value.tzinfo is None:
        raise ValueError(f"datetime parameters must be timezone-aware: {value!r}")
    return value.astimezone(UTC)
