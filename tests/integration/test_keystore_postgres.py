"""The key store contract on PostgreSQL: a private cluster, or TOUCHLINE_TEST_POSTGRES_URL.

Each test gets a database of its own: a deployment has one KEK for all its rows, and
tests that rotate or withhold the KEK must not meet rows wrapped by another test's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from events.privacy.kek import Keyring
from services.privacy.postgres import PostgresKeyStore
from tests.integration.keystore_contract import SharedKeyStoreContract
from tests.postgres import private_postgres


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("TOUCHLINE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with private_postgres() as url:
        yield url


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    name = f"keys_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class TestPostgresKeyStore(SharedKeyStoreContract):
    @pytest.fixture
    def store_url(self, database_url: str) -> Iterator[str]:
        yield database_url


def table_pages(db: psycopg.Connection[tuple[Any, ...]], table: str) -> bytes:
    """The table's pages as they are now, free space and dead tuples included (pageinspect)."""
    (size,) = db.execute("SELECT pg_relation_size(%s)", (table,)).fetchone() or (0,)
    return b"".join(
        bytes(db.execute("SELECT get_raw_page(%s, %s)", (table, n)).fetchone()[0])  # type: ignore[index]
        for n in range(size // 8192)
    )


def test_an_erasure_vacuums_the_erased_key_out_of_the_table_pages(database_url: str) -> None:
    """What VACUUM reaches; the WAL and base backups are the KEK rotation's job (see the ADR)."""
    store = PostgresKeyStore(database_url, Keyring.generate())
    keys = store.subject_keys("acme", [f"subject-{i:04d}" for i in range(400)])
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        wrapped, kept = (
            bytes(
                db.execute(
                    "SELECT wrapped FROM privacy_data_keys WHERE key_id = %s", (keys[s].key_id,)
                ).fetchone()[0]
            )  # type: ignore[index]
            for s in ("subject-0200", "subject-0201")
        )
        before = table_pages(db, "privacy_data_keys")
        assert wrapped in before and kept in before
        store.erase("acme", ["subject-0200"], "test", "page scan")
        after = table_pages(db, "privacy_data_keys")
    assert wrapped not in after and kept in after
    store.close()
