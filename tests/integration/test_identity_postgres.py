"""The identity store contract on PostgreSQL: a private cluster, or TOUCHLINE_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.identity_contract import IdentityStoreContract
from tests.postgres import private_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("TOUCHLINE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with private_postgres() as url:
        yield url


class TestPostgresIdentityStore(IdentityStoreContract):
    @pytest.fixture
    def store_url(self, postgres_url: str) -> Iterator[str]:
        yield postgres_url
