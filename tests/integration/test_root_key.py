"""The root key file, and a KEK rotation that makes old backups of the key store unreadable."""

from __future__ import annotations

import multiprocessing
import shutil
import stat
import uuid
from pathlib import Path

import pytest

from events.privacy.errors import RootKeyError
from events.privacy.keys import DataKey
from services.privacy.root_key import add_root_key_version, load_root_keys, retire_root_key_version
from services.privacy.sqlite import SqliteKeyStore


def test_the_file_is_created_private_on_first_use_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "root.key"
    first = load_root_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_root_keys(path).dumps() == first.dumps() and first.versions == (1,)
    assert [p.name for p in path.parent.iterdir()] == ["root.key"]  # no temporary left behind


def test_a_file_others_may_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    load_root_keys(path)
    path.chmod(0o640)
    with pytest.raises(RootKeyError, match="chmod 600"):
        load_root_keys(path)


def _load(path: str, out: multiprocessing.Queue[str]) -> None:
    out.put(load_root_keys(Path(path)).dumps())


def test_processes_starting_together_agree_on_one_root_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[str] = context.Queue()
    path = tmp_path / "root.key"
    children = [context.Process(target=_load, args=(str(path), out)) for _ in range(4)]
    for child in children:
        child.start()
    answers = {out.get(timeout=60) for _ in children}
    for child in children:
        child.join(30)
    assert len(answers) == 1 and answers == {load_root_keys(path).dumps()}


def test_versions_are_added_and_retired(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    load_root_keys(path)
    assert add_root_key_version(path) == 2
    assert load_root_keys(path).versions == (1, 2)
    with pytest.raises(RootKeyError, match="is current"):
        retire_root_key_version(path, 2)
    retire_root_key_version(path, 1)
    assert load_root_keys(path).versions == (2,)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_retiring_the_old_kek_shreds_the_keys_a_backup_still_holds(tmp_path: Path) -> None:
    """A backup taken before an erasure keeps the erased key, wrapped; after the rotation it is noise."""
    root, db = tmp_path / "root.key", tmp_path / "live" / "privacy.sqlite3"
    store = SqliteKeyStore(db, load_root_keys(root))
    keys: dict[str, DataKey] = store.subject_keys("acme", [uuid.uuid4().hex for _ in range(20)])
    victim, survivor = list(keys.values())[:2]
    store.close()
    backup = tmp_path / "backup" / "privacy.sqlite3"
    backup.parent.mkdir()
    shutil.copy(db, backup)  # the WAL was checkpointed on close

    store = SqliteKeyStore(db, load_root_keys(root))
    store.erase("acme", [victim.subject], "dpo", "request")
    store.close()
    add_root_key_version(root)
    store = SqliteKeyStore(db, load_root_keys(root))
    while store.rewrap(limit=5):
        pass
    assert set(store.kek_versions()) == {2}
    store.close()
    retire_root_key_version(root, 1)

    live = SqliteKeyStore(db, load_root_keys(root))
    assert live.key_by_id("acme", survivor.key_id) == survivor
    live.close()
    old = SqliteKeyStore(backup, load_root_keys(root))
    with pytest.raises(RootKeyError, match="no KEK version 1"):
        old.key_by_id("acme", victim.key_id)  # in the backup, but wrapped by a KEK that is gone
    old.close()
