"""The projection store contract on chDB (the embedded default), in a temporary directory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from chdb import session as chdb_session
from clickhouse_connect.driver.binding import bind_query

from projections.chdb_store import render_params
from projections.migrations import split_statements
from projections.store import (
    ParamValue,
    ProjectionStore,
    ProjectionStoreError,
    ProjectionStoreUnavailable,
    chdb_path,
    open_projection_store,
)
from tests.integration.projection_contract import ProjectionStoreContract


class TestChdbProjectionStore(ProjectionStoreContract):
    @pytest.fixture(scope="class")
    @classmethod
    def store_url(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        # Four slashes, as Settings writes it: chdb:/// + an absolute path.
        yield f"chdb:///{tmp_path_factory.mktemp('clickhouse')}"

    def test_a_second_directory_is_refused_while_one_is_open(
        self, store: ProjectionStore, tmp_path: Path
    ) -> None:
        with pytest.raises(ProjectionStoreUnavailable, match="one process"):
            open_projection_store(f"chdb://{tmp_path}")

    def test_a_second_handle_on_the_same_directory_sees_the_data(
        self, store: ProjectionStore, store_url: str
    ) -> None:
        # A second handle on the same path is allowed in one process; closing it
        # leaves the class's store open.
        again = open_projection_store(store_url)
        try:
            assert again.query_rows("SELECT count() FROM schema_migrations")[0][0] >= 5
        finally:
            again.close()
        assert store.query_rows("SELECT 1") == [(1,)]

    def test_a_query_that_fails_while_running_leaves_the_next_one_whole(
        self, store: ProjectionStore
    ) -> None:
        """chDB keeps what a failed Arrow query had written; the store must not pass it on."""
        with pytest.raises(ProjectionStoreError, match="throwIf"):
            store.query_arrow("SELECT throwIf(number = 3) FROM numbers(10)")
        assert store.query_rows("SELECT 42") == [(42,)]

    @pytest.mark.parametrize(
        ("placeholder", "value"),
        [
            ("String", "it's a \\ back\nslash\t`tick` 東京"),
            ("Nullable(String)", None),
            ("Int64", -(2**62)),
            ("Float64", 0.1),
            ("Bool", True),
            ("UUID", uuid.UUID("2f1c9a4e-6f43-4d7e-9c1e-7b3f0c5a8d21")),
            ("DateTime64(3, 'UTC')", datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
            ("DateTime('UTC')", datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
            ("Date", date(2026, 1, 2)),
            ("Array(String)", ["a'b", "c\\d", ""]),
            ("Array(Nullable(Int32))", [1, None, -3]),
            ("Array(DateTime64(3, 'UTC'))", [datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)]),
        ],
    )
    def test_values_bind_as_clickhouse_connect_binds_them(
        self, store: ProjectionStore, store_url: str, placeholder: str, value: ParamValue
    ) -> None:
        """The server adapter cannot run here, but its binding can: clickhouse-connect's
        ``param_v`` text goes through the same ClickHouse parser inside chDB."""
        sql = f"SELECT toTypeName({{v:{placeholder}}}), {{v:{placeholder}}}"
        _, server_side = bind_query(sql, {"v": value})
        open_session: Any = chdb_session.Session  # unannotated in chdb
        session = open_session(chdb_path(store_url))  # a second handle on the same path
        try:
            theirs = session.query(sql, "TabSeparated", params={"v": server_side["param_v"]})
            ours = session.query(sql, "TabSeparated", params=render_params(sql, {"v": value}))
            assert ours.bytes() == theirs.bytes()
        finally:
            session.close()


def test_statements_split_outside_quotes_and_comments() -> None:
    sql = (
        "-- a; header\nCREATE TABLE a (s String DEFAULT ';') ENGINE = Log;  -- trailing; note\n"
        "SELECT 'it\\'s; fine', `odd;name` FROM a;\n-- only a comment; at the end\n"
    )
    assert split_statements(sql) == [
        "-- a; header\nCREATE TABLE a (s String DEFAULT ';') ENGINE = Log",
        "-- trailing; note\nSELECT 'it\\'s; fine', `odd;name` FROM a",
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("chdb:///var/tl", "/var/tl"),
        ("chdb:////var/tl", "/var/tl"),
        ("chdb:///var/tl?x=1", "/var/tl"),
    ],
)
def test_chdb_urls_name_an_absolute_directory(url: str, expected: str) -> None:
    assert chdb_path(url) == expected


@pytest.mark.parametrize("url", ["chdb://relative/dir", "chdb:///", "sqlite:///x", "clickhouse"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        open_projection_store(url)
