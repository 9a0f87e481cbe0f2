"""The key store in one SQLite file (the embedded default), beside the identity store.

WAL, so readers never wait for a writer; ``synchronous=FULL``, because a key lost in
a power cut makes every event sealed with it unreadable; ``secure_delete``, so deleted
keys are overwritten with zeros, and a truncating WAL checkpoint after every erasure,
so no older page image holding them stays in the ``-wal`` file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from events.privacy.errors import ErasureIncomplete, KeyStoreError
from events.privacy.kek import Keyring
from events.privacy.keys import DataKey, Erased, KeyState
from events.privacy.keystore import ErasureReceipt, KeyStore
from events.timestamps import format_instant, now_utc
from services.privacy.rows import (
    KeyRow,
    check_erasure,
    chunks,
    new_key_row,
    new_secret,
    receipt,
    receipt_row,
    rewrapped_key,
    rewrapped_secret,
    secret_context,
    unwrap_key,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    tenant TEXT NOT NULL, key_id BLOB NOT NULL, subject TEXT NOT NULL, wrapped BLOB NOT NULL,
    kek_version INTEGER NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (tenant, key_id), UNIQUE (tenant, subject));
CREATE TABLE IF NOT EXISTS erased_keys (
    tenant TEXT NOT NULL, key_id BLOB NOT NULL, erased_on TEXT NOT NULL,
    PRIMARY KEY (tenant, key_id));
CREATE TABLE IF NOT EXISTS tenant_secrets (
    tenant TEXT PRIMARY KEY, wrapped BLOB NOT NULL, kek_version INTEGER NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS erasure_receipts (
    receipt_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, erased_at TEXT NOT NULL,
    actor TEXT NOT NULL, reason TEXT NOT NULL, subject_count INTEGER NOT NULL,
    key_count INTEGER NOT NULL);
"""
_KEY_COLUMNS = "tenant, key_id, subject, wrapped, kek_version"
_SCRUB_TRIES = 5


class SqliteKeyStore(KeyStore):
    def __init__(self, path: Path, keyring: Keyring, busy_timeout_s: float = 10.0) -> None:
        self.path, self.keyring = path, keyring
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # -wal and -shm inherit the mode
        self._lock = threading.Lock()
        with self._translated("open"):
            self._db = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
                self._db.execute(f"PRAGMA {pragma}")
            self._db.executescript(_SCHEMA)

    def subject_keys(self, tenant: str, subjects: Collection[str]) -> dict[str, DataKey]:
        with self._lock, self._translated("subject_keys"):
            found = self._live_by_subject(tenant, subjects)
            missing = [s for s in set(subjects) if s not in found]
            if missing:
                rows = [new_key_row(self.keyring, tenant, s) for s in sorted(missing)]
                with self._write():
                    self._db.executemany(
                        f"INSERT INTO data_keys ({_KEY_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (tenant, subject) DO NOTHING",
                        [(*row, format_instant(now_utc())) for row in rows],
                    )
                found.update(self._live_by_subject(tenant, missing))
        return found

    def keys_by_id(self, tenant: str, key_ids: Collection[bytes]) -> dict[bytes, KeyState]:
        out: dict[bytes, KeyState] = {}
        with self._lock, self._translated("keys_by_id"):
            for chunk in chunks(key_ids):
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    f"SELECT {_KEY_COLUMNS} FROM data_keys WHERE tenant = ?"
                    f" AND key_id IN ({marks})",
                    (tenant, *chunk),
                ):
                    out[row[1]] = unwrap_key(self.keyring, KeyRow(*row))
                for key_id, day in self._db.execute(
                    f"SELECT key_id, erased_on FROM erased_keys WHERE tenant = ? AND key_id IN ({marks})",
                    (tenant, *chunk),
                ):
                    out.setdefault(key_id, Erased(key_id, day))
        return out

    def erase(
        self, tenant: str, subjects: Collection[str], actor: str, reason: str
    ) -> ErasureReceipt:
        check_erasure(actor, reason)
        with self._lock, self._translated("erase"):
            with self._write():
                erased = self._delete_subjects(tenant, subjects)
                done = receipt(tenant, subjects, erased, actor, reason)
                self._db.execute(
                    "INSERT INTO erasure_receipts VALUES (?, ?, ?, ?, ?, ?, ?)",
                    receipt_row(done),
                )
            try:
                self._scrub()
            except ErasureIncomplete as exc:
                raise ErasureIncomplete(str(exc), done) from None
        return done

    def _delete_subjects(self, tenant: str, subjects: Collection[str]) -> list[bytes]:
        erased: list[bytes] = []
        today = format_instant(now_utc())[:10]
        for chunk in chunks(subjects):
            marks = ",".join("?" * len(chunk))
            deleted = self._db.execute(
                f"DELETE FROM data_keys WHERE tenant = ? AND subject IN ({marks}) RETURNING key_id",
                (tenant, *chunk),
            ).fetchall()
            erased += [key_id for (key_id,) in deleted]
        self._db.executemany(
            "INSERT INTO erased_keys VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(tenant, key_id, today) for key_id in erased],
        )
        return erased

    def _scrub(self) -> None:
        """Fold the WAL into the database and truncate it, so no old page image survives."""
        for attempt in range(_SCRUB_TRIES):
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.05 * 2**attempt)
        raise ErasureIncomplete(
            f"key store {self.path}: keys deleted, but readers kept the WAL from being"
            " truncated; erase again to finish"
        )

    def tenant_secret(self, tenant: str) -> bytes:
        with self._lock, self._translated("tenant_secret"):
            row = self._secret_row(tenant)
            if row is None:
                version, wrapped = new_secret(self.keyring, tenant)
                with self._write():
                    self._db.execute(
                        "INSERT INTO tenant_secrets VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (tenant, wrapped, version, format_instant(now_utc())),
                    )
                row = self._secret_row(tenant)
                assert row is not None
        return self.keyring.unwrap(row[1], row[0], secret_context(tenant))

    def receipts(self, tenant: str) -> list[ErasureReceipt]:
        with self._lock, self._translated("receipts"):
            rows = self._db.execute(
                "SELECT * FROM erasure_receipts WHERE tenant = ? ORDER BY erased_at, receipt_id",
                (tenant,),
            ).fetchall()
        return [ErasureReceipt(*row) for row in rows]

    def rewrap(self, limit: int = 1000) -> int:
        current = self.keyring.current
        with self._lock, self._translated("rewrap"):
            with self._write():
                keys = self._db.execute(
                    f"SELECT {_KEY_COLUMNS} FROM data_keys WHERE kek_version != ? LIMIT ?",
                    (current, limit),
                ).fetchall()
                for row in map(KeyRow._make, keys):
                    self._db.execute(
                        "UPDATE data_keys SET wrapped = ?, kek_version = ? WHERE tenant = ? AND key_id = ?",
                        (*rewrapped_key(self.keyring, row), row.tenant, row.key_id),
                    )
                secrets = self._db.execute(
                    "SELECT tenant, wrapped, kek_version FROM tenant_secrets"
                    " WHERE kek_version != ? LIMIT ?",
                    (current, limit - len(keys)),
                ).fetchall()
                for tenant, wrapped, version in secrets:
                    self._db.execute(
                        "UPDATE tenant_secrets SET wrapped = ?, kek_version = ? WHERE tenant = ?",
                        (*rewrapped_secret(self.keyring, tenant, wrapped, version), tenant),
                    )
            self._scrub()
        return len(keys) + len(secrets)

    def kek_versions(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        with self._lock, self._translated("kek_versions"):
            for table in ("data_keys", "tenant_secrets"):
                for version, n in self._db.execute(
                    f"SELECT kek_version, count(*) FROM {table} GROUP BY kek_version"
                ):
                    counts[version] = counts.get(version, 0) + n
        return counts

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _live_by_subject(self, tenant: str, subjects: Collection[str]) -> dict[str, DataKey]:
        out: dict[str, DataKey] = {}
        for chunk in chunks(subjects):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {_KEY_COLUMNS} FROM data_keys WHERE tenant = ? AND subject IN ({marks})",
                (tenant, *chunk),
            ):
                out[row[2]] = unwrap_key(self.keyring, KeyRow(*row))
        return out

    def _secret_row(self, tenant: str) -> tuple[bytes, int] | None:
        row = self._db.execute(
            "SELECT wrapped, kek_version FROM tenant_secrets WHERE tenant = ?", (tenant,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taking the lock up front so two writers never deadlock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise KeyStoreError(f"key store {self.path}: {what} failed: {exc}") from exc
