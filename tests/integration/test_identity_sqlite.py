"""The identity store contract on SQLite (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.identity_contract import IdentityStoreContract


class TestSqliteIdentityStore(IdentityStoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> Iterator[str]:
        yield f"sqlite://{tmp_path / 'identity.sqlite3'}"
