"""The key store in PostgreSQL (``privacy_*`` tables; it may share the identity store's database).

A deleted row stays in the table file as a dead tuple until VACUUM removes it, so an
erasure runs ``VACUUM`` on the keys table afterwards. Even then PostgreSQL does not
promise to overwrite the bytes, and the WAL, replicas and base backups keep copies:
what they keep is wrapped, and retiring the KEK version that wrapped it (the rotation
in the ADR) is what makes those copies unreadable.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from events.privacy.errors import KeyStoreError
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

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS privacy_data_keys (
        tenant TEXT NOT NULL, key_id BYTEA NOT NULL, subject TEXT NOT NULL, wrapped BYTEA NOT NULL,
        kek_version INTEGER NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (tenant, key_id), UNIQUE (tenant, subject))""",
    """CREATE TABLE IF NOT EXISTS privacy_erased_keys (
        tenant TEXT NOT NULL, key_id BYTEA NOT NULL, erased_on TEXT NOT NULL,
        PRIMARY KEY (tenant, key_id))""",
    """CREATE TABLE IF NOT EXISTS privacy_tenant_secrets (
        tenant TEXT PRIMARY KEY, wrapped BYTEA NOT NULL, kek_version INTEGER NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS privacy_erasure_receipts (
        receipt_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, erased_at TEXT NOT NULL,
        actor TEXT NOT NULL, reason TEXT NOT NULL, subject_count INTEGER NOT NULL,
        key_count INTEGER NOT NULL)""",
]
_SCHEMA_LOCK = 0x746C_7076  # advisory lock id: concurrent CREATE TABLE IF NOT EXISTS can collide
_KEY_COLUMNS = "tenant, key_id, subject, wrapped, kek_version"


class PostgresKeyStore(KeyStore):
    def __init__(self, url: str, keyring: Keyring, max_connections: int = 4) -> None:
        self.keyring = keyring
        self._where = url.rsplit("@", 1)[-1]  # host and database, never the password
        self._lock = threading.Lock()
        with self._translated("open"):
            self._pool = ConnectionPool(
                url, min_size=1, max_size=max_connections, kwargs={"autocommit": True}, open=True
            )
            self._pool.wait()
            with self._conn() as db, db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for statement in _SCHEMA:
                    db.execute(statement)

    def subject_keys(self, tenant: str, subjects: Collection[str]) -> dict[str, DataKey]:
        with self._translated("subject_keys"), self._conn() as db:
            found = self._live_by_subject(db, tenant, subjects)
            missing = [s for s in set(subjects) if s not in found]
            if missing:
                rows = [new_key_row(self.keyring, tenant, s) for s in sorted(missing)]
                with db.transaction(), db.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO privacy_data_keys ({_KEY_COLUMNS}, created_at)"
                        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, subject) DO NOTHING",
                        [(*row, format_instant(now_utc())) for row in rows],
                    )
                # READ COMMITTED: this statement sees the winner of any concurrent insert
                found.update(self._live_by_subject(db, tenant, missing))
        return found

    def keys_by_id(self, tenant: str, key_ids: Collection[bytes]) -> dict[bytes, KeyState]:
        out: dict[bytes, KeyState] = {}
        with self._translated("keys_by_id"), self._conn() as db:
            for chunk in chunks(key_ids):
                for row in db.execute(
                    f"SELECT {_KEY_COLUMNS} FROM privacy_data_keys WHERE tenant = %s"
                    " AND key_id = ANY(%s)",
                    (tenant, chunk),
                ):
                    out[bytes(row[1])] = unwrap_key(self.keyring, _key_row(row))
                for key_id, day in db.execute(
                    "SELECT key_id, erased_on FROM privacy_erased_keys"
                    " WHERE tenant = %s AND key_id = ANY(%s)",
                    (tenant, chunk),
                ):
                    out.setdefault(bytes(key_id), Erased(bytes(key_id), day))
        return out

    def erase(
        self, tenant: str, subjects: Collection[str], actor: str, reason: str
    ) -> ErasureReceipt:
        check_erasure(actor, reason)
        with self._translated("erase"), self._conn() as db:
            with db.transaction(), db.cursor() as cur:
                erased = _delete_subjects(cur, tenant, subjects)
                done = receipt(tenant, subjects, erased, actor, reason)
                cur.execute(
                    "INSERT INTO privacy_erasure_receipts VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    receipt_row(done),
                )
            # dead tuples out of the table's pages (a read transaction open elsewhere delays it)
            db.execute("VACUUM privacy_data_keys")
        return done

    def tenant_secret(self, tenant: str) -> bytes:
        with self._translated("tenant_secret"), self._conn() as db:
            row = self._secret_row(db, tenant)
            if row is None:
                version, wrapped = new_secret(self.keyring, tenant)
                db.execute(
                    "INSERT INTO privacy_tenant_secrets VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (tenant, wrapped, version, format_instant(now_utc())),
                )
                row = self._secret_row(db, tenant)
                assert row is not None
        return self.keyring.unwrap(row[1], row[0], secret_context(tenant))

    def receipts(self, tenant: str) -> list[ErasureReceipt]:
        with self._translated("receipts"), self._conn() as db:
            rows = db.execute(
                "SELECT * FROM privacy_erasure_receipts WHERE tenant = %s"
                " ORDER BY erased_at, receipt_id",
                (tenant,),
            ).fetchall()
        return [ErasureReceipt(*row) for row in rows]

    def rewrap(self, limit: int = 1000) -> int:
        current = self.keyring.current
        with self._translated("rewrap"), self._conn() as db:
            with db.transaction(), db.cursor() as cur:
                keys = cur.execute(
                    f"SELECT {_KEY_COLUMNS} FROM privacy_data_keys WHERE kek_version <> %s"
                    " LIMIT %s FOR UPDATE SKIP LOCKED",
                    (current, limit),
                ).fetchall()
                cur.executemany(
                    "UPDATE privacy_data_keys SET wrapped = %s, kek_version = %s"
                    " WHERE tenant = %s AND key_id = %s",
                    [(*rewrapped_key(self.keyring, _key_row(r)), r[0], r[1]) for r in keys],
                )
                secrets = cur.execute(
                    "SELECT tenant, wrapped, kek_version FROM privacy_tenant_secrets"
                    " WHERE kek_version <> %s LIMIT %s FOR UPDATE SKIP LOCKED",
                    (current, limit - len(keys)),
                ).fetchall()
                cur.executemany(
                    "UPDATE privacy_tenant_secrets SET wrapped = %s, kek_version = %s WHERE tenant = %s",
                    [(*rewrapped_secret(self.keyring, t, bytes(w), v), t) for t, w, v in secrets],
                )
            if keys or secrets:
                db.execute("VACUUM privacy_data_keys, privacy_tenant_secrets")
        return len(keys) + len(secrets)

    def kek_versions(self) -> dict[int, int]:
        with self._translated("kek_versions"), self._conn() as db:
            rows = db.execute(
                "SELECT kek_version, count(*) FROM (SELECT kek_version FROM privacy_data_keys"
                " UNION ALL SELECT kek_version FROM privacy_tenant_secrets) v GROUP BY kek_version"
            ).fetchall()
        return {int(version): int(n) for version, n in rows}

    def close(self) -> None:
        self._pool.close()

    def _live_by_subject(
        self, db: psycopg.Connection[tuple[Any, ...]], tenant: str, subjects: Collection[str]
    ) -> dict[str, DataKey]:
        out: dict[str, DataKey] = {}
        for chunk in chunks(subjects):
            for row in db.execute(
                f"SELECT {_KEY_COLUMNS} FROM privacy_data_keys WHERE tenant = %s"
                " AND subject = ANY(%s)",
                (tenant, chunk),
            ):
                key = unwrap_key(self.keyring, _key_row(row))
                out[key.subject] = key
        return out

    @staticmethod
    def _secret_row(
        db: psycopg.Connection[tuple[Any, ...]], tenant: str
    ) -> tuple[bytes, int] | None:
        row = db.execute(
            "SELECT wrapped, kek_version FROM privacy_tenant_secrets WHERE tenant = %s", (tenant,)
        ).fetchone()
        return None if row is None else (bytes(row[0]), int(row[1]))

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        with self._pool.connection() as db:
            yield db

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise KeyStoreError(f"key store {self._where}: {what} failed: {exc}") from exc


def _delete_subjects(
    cur: psycopg.Cursor[tuple[Any, ...]], tenant: str, subjects: Collection[str]
) -> list[bytes]:
    """Delete the subjects' live keys, leaving a tombstone per key id; the ids deleted."""
    erased: list[bytes] = []
    for chunk in chunks(subjects):
        cur.execute(
            "DELETE FROM privacy_data_keys WHERE tenant = %s AND subject = ANY(%s) RETURNING key_id",
            (tenant, chunk),
        )
        erased += [bytes(key_id) for (key_id,) in cur.fetchall()]
    today = format_instant(now_utc())[:10]
    cur.executemany(
        "INSERT INTO privacy_erased_keys VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        [(tenant, key_id, today) for key_id in erased],
    )
    return erased


def _key_row(row: tuple[Any, ...]) -> KeyRow:
    tenant, key_id, subject, wrapped, version = row
    return KeyRow(str(tenant), bytes(key_id), str(subject), bytes(wrapped), int(version))
