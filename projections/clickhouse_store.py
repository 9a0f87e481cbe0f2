"""``ClickHouseProjectionStore``: the projection store on a ClickHouse server, via clickhouse-connect.

Used when ``TOUCHLINE_CLICKHOUSE_URL`` is ``http(s)://user:password@host:port/database``.
No modern ClickHouse server runs on the machines this was written on, so the
contract suite runs here only where that variable points at one.

Inserts use ``Client.insert_arrow`` (the Arrow format, parsed by the server,
the same parser chDB uses); reads use ``Client.query_arrow``, so rows come
back as the same Arrow types as on chDB. Parameters go to clickhouse-connect
as they are: a ``{name:Type}`` placeholder makes it bind server-side
(``param_<name>``), which is what the chDB adapter imitates.

On a replicated cluster the tables' ``Replicated*`` engines keep their own
deduplication window (``replicated_deduplication_window``), so the tokens work
there without ``non_replicated_deduplication_window``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from projections.store import (
    DEDUP_SETTINGS,
    READ_SETTINGS,
    Params,
    ProjectionStoreError,
    ProjectionStoreUnavailable,
    Row,
    as_utc,
    rows_of,
)

T = TypeVar("T")


class ClickHouseProjectionStore:
    """The projections in one database of a ClickHouse server."""

    def __init__(self, url: str) -> None:
        self.url = url
        # clickhouse-connect's HTTP client is not meant to be shared by threads
        # mid-request; the projector and query handlers may be on several.
        self._lock = threading.Lock()
        try:
            self._client: Client | None = clickhouse_connect.get_client(dsn=url)
        except OperationalError as exc:
            raise ProjectionStoreUnavailable(f"cannot reach ClickHouse: {exc}") from exc
        except ClickHouseError as exc:
            raise ProjectionStoreError(str(exc)) from exc

    def command(self, sql: str, params: Params | None = None) -> None:
        self._call(lambda c: c.command(sql, parameters=_bindable(params)))

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        result: pa.Table = self._call(
            lambda c: c.query_arrow(
                sql, parameters=_bindable(params), settings=dict(READ_SETTINGS), use_strings=True
            )
        )
        return result

    def query_rows(self, sql: str, params: Params | None = None) -> list[Row]:
        return rows_of(self.query_arrow(sql, params))

    def insert_arrow(self, table: str, rows: pa.Table, dedup_token: str | None = None) -> int:
        if rows.num_rows == 0:
            return 0
        settings: dict[str, Any] = dict(DEDUP_SETTINGS)
        if dedup_token is not None:
            settings["insert_deduplication_token"] = dedup_token
        self._call(lambda c: c.insert_arrow(table, rows, settings=settings))
        return int(rows.num_rows)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _call(self, action: Callable[[Client], T]) -> T:
        with self._lock:
            if self._client is None:
                raise ProjectionStoreError("the ClickHouse projection store is closed")
            try:
                return action(self._client)
            except OperationalError as exc:
                raise ProjectionStoreUnavailable(str(exc)) from exc
            except ClickHouseError as exc:
                raise ProjectionStoreError(str(exc)) from exc


def _bindable(params: Params | None) -> dict[str, Any] | None:
    """Lists for arrays (a tuple would bind as a ClickHouse Tuple) and UTC datetimes."""
    if not params:
        return None
    return {name: _value(value) for name, value in params.items()}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_value(item) for item in value]
    return value
