"""The key store contract on SQLite, and what only a file can show: erased bytes leave the disk."""

from __future__ import annotations

import sqlite3
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.privacy.errors import ErasureIncomplete
from events.privacy.kek import Keyring
from services.privacy.sqlite import SqliteKeyStore
from tests.integration.keystore_contract import SharedKeyStoreContract


class TestSqliteKeyStore(SharedKeyStoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> Iterator[str]:
        yield f"sqlite://{tmp_path / 'privacy.sqlite3'}"


def on_disk(path: Path) -> bytes:
    """Every byte of the database and its WAL, as someone copying the files would get them."""
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )


def wrapped_of(path: Path, key_id: bytes) -> bytes:
    with sqlite3.connect(path) as db:
        (wrapped,) = db.execute(
            "SELECT wrapped FROM data_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
    return bytes(wrapped)


def test_an_erased_key_leaves_no_byte_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "privacy.sqlite3"
    store = SqliteKeyStore(path, Keyring.generate())
    keys = store.subject_keys("acme", [f"subject-{i:04d}" for i in range(400)])
    victim, neighbour = keys["subject-0200"], keys["subject-0201"]
    wrapped, kept = wrapped_of(path, victim.key_id), wrapped_of(path, neighbour.key_id)
    before = on_disk(path)
    assert wrapped in before and kept in before  # the scan sees stored keys
    assert victim.material not in before  # never stored in clear, not even before erasure
    store.erase("acme", ["subject-0200"], "test", "byte scan")
    after = on_disk(path)
    assert wrapped not in after and victim.material not in after
    assert kept in after  # the neighbour on the same page is still there
    assert path.with_name(path.name + "-wal").stat().st_size == 0
    store.close()


def test_the_files_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "privacy.sqlite3"
    store = SqliteKeyStore(path, Keyring.generate())
    store.subject_key("acme", "s")
    for name in (path, path.with_name(path.name + "-wal")):
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    store.close()


def test_a_reader_holding_the_wal_makes_erasure_say_so_and_a_retry_finishes(tmp_path: Path) -> None:
    path = tmp_path / "privacy.sqlite3"
    store = SqliteKeyStore(path, Keyring.generate(), busy_timeout_s=0.05)
    keys = store.subject_keys("acme", [uuid.uuid4().hex for _ in range(50)])
    victim = next(iter(keys))
    wrapped = wrapped_of(path, keys[victim].key_id)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM data_keys").fetchone()  # an old snapshot pins the WAL
    with pytest.raises(ErasureIncomplete, match="erase again") as caught:
        store.erase("acme", [victim], "test", "pinned WAL")
    assert caught.value.receipt is not None
    assert caught.value.receipt.key_ids == (keys[victim].key_id.hex(),)  # for the caches
    reader.execute("COMMIT")
    reader.close()
    again = store.erase("acme", [victim], "test", "pinned WAL, retried")
    assert again.key_count == 0  # the key was already gone; this call only finished the scrub
    assert wrapped not in on_disk(path)
    store.close()
