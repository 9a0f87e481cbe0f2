"""API keys in a SQLite file under the data directory."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from services.auth.keys import PLATFORM, ROLES, ApiKey, KeyError_, KeyStore, Role, digest, new_key
from services.platform.sqlite_files import open_store_file

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    digest TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    types TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


class SqliteKeyStore(KeyStore):
    def __init__(self, path: Path) -> None:
        self._db = open_store_file(path, _SCHEMA)
        self._lock = threading.Lock()

    def create(self, tenant: str, role: Role, types: tuple[str, ...] = ()) -> str:
        if role not in ROLES:
            raise KeyError_(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if role == "operator" and tenant != PLATFORM:
            raise KeyError_("operator keys act on every tenant's projections: create one "
                            "without --tenant")  # fmt: skip
        if role != "operator" and not _TENANT.match(tenant):
            raise KeyError_(f"tenant must match {_TENANT.pattern}, not {tenant!r}")
        if types and role != "publisher":
            raise KeyError_("only publisher keys are limited to event types")
        key = new_key(role)
        row = (digest(key), digest(key)[:12], tenant, role, ",".join(types), time.time())
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (digest, key_id, tenant, role, types, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
        return key

    def revoke(self, key_or_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE (digest = ? OR key_id = ?)"
                " AND revoked_at IS NULL",
                (time.time(), digest(key_or_id), key_or_id),
            )
        return cur.rowcount > 0

    def lookup(self, key: str) -> ApiKey | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, tenant, role, types FROM api_keys"
                " WHERE digest = ? AND revoked_at IS NULL",
                (digest(key),),
            ).fetchone()
        if row is None:
            return None
        types = tuple(t for t in row[3].split(",") if t)
        return ApiKey(key_id=row[0], tenant=row[1], role=row[2], types=types)

    def is_active(self, key_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", (key_id,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        self._db.close()
