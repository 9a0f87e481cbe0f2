"""The in-memory fake passes the single-process contract, so unit tests built on it mean something."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from events.privacy.kek import Keyring
from tests.integration.keystore_contract import KeyStoreContract, Opener
from tests.privacy_memory import MemoryKeyStore


class TestMemoryKeyStore(KeyStoreContract):
    @pytest.fixture
    def opener(self) -> Iterator[Opener]:
        shared: list[MemoryKeyStore] = []

        def open_(keyring: Keyring) -> MemoryKeyStore:
            """Every "connection" sees the same rows, under the keyring it was opened with."""
            store = MemoryKeyStore(keyring)
            if shared:
                first = shared[0]
                store.rows, store.tombstones = first.rows, first.tombstones
                store.secrets, store.stored_receipts = first.secrets, first.stored_receipts
                store._lock = first._lock
            shared.append(store)
            return store

        yield open_
