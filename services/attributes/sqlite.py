"""Attribute declarations in a SQLite file under the data directory, beside the API keys.

Ingest asks for a tenant's declarations whenever a profile event carries attributes; the
answer is cached per tenant and dropped as soon as SQLite's ``data_version`` says another
connection committed (``touchline attributes declare`` in another process), so a
declaration counts from the next batch on, without a database read per batch.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import cast

from events.attributes import AttributeRules, AttributeType, Declaration, DeclarationError
from services.attributes.store import AttributeStore
from services.platform.sqlite_files import open_store_file

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS attribute_declarations (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    enum_values TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
)
"""
_SEPARATOR = "\x1f"  # enum values may hold commas


class SqliteAttributeStore(AttributeStore):
    def __init__(self, path: Path) -> None:
        self._db = open_store_file(path, _SCHEMA)
        self._lock = threading.Lock()
        self._cache: dict[str, Mapping[str, Declaration]] = {}
        self._version = -1

    def declare(self, tenant: str, declaration: Declaration) -> bool:
        _check_tenant(tenant)
        row = (tenant, declaration.name, declaration.type, _SEPARATOR.join(declaration.values))
        with self._lock:
            new = (
                self._db.execute(
                    "SELECT 1 FROM attribute_declarations WHERE tenant = ? AND name = ?", row[:2]
                ).fetchone()
                is None
            )
            self._db.execute(
                "INSERT OR REPLACE INTO attribute_declarations VALUES (?, ?, ?, ?)", row
            )
            self._cache.clear()  # data_version does not change for this connection's writes
        return new

    def remove(self, tenant: str, name: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM attribute_declarations WHERE tenant = ? AND name = ?", (tenant, name)
            )
            self._cache.clear()
        return cur.rowcount > 0

    def declared(self, tenant: str) -> Mapping[str, Declaration]:
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._cache.clear()
                self._version = version
            found = self._cache.get(tenant)
            if found is None:
                found = self._cache[tenant] = self._read(tenant)
        return found

    def _read(self, tenant: str) -> Mapping[str, Declaration]:
        rows = self._db.execute(
            "SELECT name, type, enum_values FROM attribute_declarations WHERE tenant = ?"
            " ORDER BY name",
            (tenant,),
        ).fetchall()
        return MappingProxyType(
            {
                name: Declaration(name, cast(AttributeType, kind), _values(values))
                for name, kind, values in rows
            }
        )

    def close(self) -> None:
        self._db.close()


def _values(stored: str) -> tuple[str, ...]:
    return tuple(stored.split(_SEPARATOR)) if stored else ()


def _check_tenant(tenant: str) -> None:
    if not _TENANT.match(tenant):
        raise DeclarationError(f"tenant must match {_TENANT.pattern}, not {tenant!r}")


class NothingDeclared:
    """The rules where no declaration file exists yet: every attribute is undeclared."""

    def declared(self, tenant: str) -> Mapping[str, Declaration]:
        return MappingProxyType({})


def read_attribute_rules(path: Path) -> AttributeRules:
    """For a command that only reads: the store if there is one, without creating its file."""
    return SqliteAttributeStore(path) if path.exists() else NothingDeclared()
