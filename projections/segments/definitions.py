"""Segment definitions in SQLite beside the projections: named, versioned, per tenant.

SQLite, not ClickHouse: a definition is configuration a person edits (created, revised
into a new version, deleted), with a name unique per tenant that must be checked and
taken in one transaction, and the refresher updates each segment's last-refresh time
many times an hour; ClickHouse is for appended facts. Nor is a definition a projection
of the log: a replay swaps ClickHouse tables and must not take the definitions with it.
Every read is by tenant: another tenant's segment is simply not found.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    segment_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL,
    version INTEGER NOT NULL, created_at TEXT NOT NULL, deleted_at TEXT,
    refreshed_at TEXT, members INTEGER, refresh_error TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS segments_name ON segments (tenant, name) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS segment_versions (
    segment_id TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
    definition TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
    PRIMARY KEY (segment_id, version)
);
"""


class SegmentNameTaken(Exception):
    """The tenant already has a live segment of that name."""


@dataclass(frozen=True, slots=True)
class Segment:
    segment_id: str
    tenant: str
    name: str
    version: int
    kind: str  # rule | sql
    definition: Any  # the rule (JSON) or the SQL text
    created_at: str
    refreshed_at: str | None = None
    members: int | None = None
    refresh_error: str | None = None
    deleted_at: str | None = None

    def public(self) -> dict[str, Any]:
        return {"segment_id": self.segment_id, "name": self.name, "version": self.version,
                "kind": self.kind, self.kind: self.definition, "created_at": self.created_at,
                "last_refresh": {"at": self.refreshed_at, "members": self.members,
                                 "error": self.refresh_error}}  # fmt: skip


class SqliteSegmentStore:
    """The definitions and their refresh bookkeeping; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def create(self, tenant: str, name: str, kind: str, definition: Any, by: str) -> Segment:
        segment_id, now = str(uuid.uuid4()), _now()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO segments (segment_id, tenant, name, version, created_at) "
                    "VALUES (?, ?, ?, 1, ?)", (segment_id, tenant, name, now))  # fmt: skip
                self._version(segment_id, 1, kind, definition, now, by)
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                raise SegmentNameTaken(name) from None
        found = self.get(tenant, segment_id)
        assert found is not None
        return found

    def revise(
        self, tenant: str, segment_id: str, kind: str, definition: Any, by: str
    ) -> Segment | None:
        """A new version of a live segment (its members are re-evaluated under it)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT version FROM segments WHERE tenant = ? AND segment_id = ? AND deleted_at IS NULL",
                (tenant, segment_id)).fetchone()  # fmt: skip
            if row is None:
                self._db.execute("ROLLBACK")
                return None
            version = int(row[0]) + 1
            self._db.execute(
                "UPDATE segments SET version = ? WHERE segment_id = ?", (version, segment_id)
            )
            self._version(segment_id, version, kind, definition, _now(), by)
            self._db.execute("COMMIT")
        return self.get(tenant, segment_id)

    def delete(self, tenant: str, segment_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE segments SET deleted_at = ? WHERE tenant = ? AND segment_id = ? "
                "AND deleted_at IS NULL", (_now(), tenant, segment_id))  # fmt: skip
        return cursor.rowcount == 1

    def get(self, tenant: str, id_or_name: str, deleted: bool = False) -> Segment | None:
        """A live segment by id or name (or a deleted one by id, for the refresher)."""
        where = "" if deleted else " AND s.deleted_at IS NULL"
        rows = self._select(f"s.tenant = ? AND (s.segment_id = ? OR s.name = ?){where}",
                            (tenant, id_or_name, id_or_name))  # fmt: skip
        return rows[0] if rows else None

    def listed(self, tenant: str | None = None, deleted: bool = False) -> list[Segment]:
        """A tenant's live segments (every tenant's if None); with ``deleted``, those too."""
        where = "1" if deleted else "s.deleted_at IS NULL"
        if tenant is None:
            return self._select(where, ())
        return self._select(f"s.tenant = ? AND {where}", (tenant,))

    def refreshed(self, segment_id: str, members: int | None, error: str | None = None) -> None:
        with self._lock:
            if error is None:
                self._db.execute("UPDATE segments SET refreshed_at = ?, members = ?, refresh_error = "
                                 "NULL WHERE segment_id = ?", (_now(), members, segment_id))  # fmt: skip
            else:
                self._db.execute("UPDATE segments SET refresh_error = ? WHERE segment_id = ?",
                                 (error[:500], segment_id))  # fmt: skip

    def forget(self, segment_id: str) -> None:
        """A deleted segment whose members have all been told they left: gone for good."""
        with self._lock:
            self._db.execute("DELETE FROM segment_versions WHERE segment_id = ?", (segment_id,))
            self._db.execute("DELETE FROM segments WHERE segment_id = ? AND deleted_at IS NOT NULL",
                             (segment_id,))  # fmt: skip

    def close(self) -> None:
        self._db.close()

    def _version(self, segment_id: str, version: int, kind: str, definition: Any, at: str,
                 by: str) -> None:  # fmt: skip
        self._db.execute("INSERT INTO segment_versions VALUES (?, ?, ?, ?, ?, ?)",
                         (segment_id, version, kind, orjson.dumps(definition).decode(), at, by))  # fmt: skip

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Segment]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.segment_id, s.tenant, s.name, s.version, v.kind, v.definition, s.created_at, "
                "s.refreshed_at, s.members, s.refresh_error, s.deleted_at FROM segments AS s "
                "JOIN segment_versions AS v ON v.segment_id = s.segment_id AND v.version = s.version "
                f"WHERE {where} ORDER BY s.tenant, s.name", args).fetchall()  # fmt: skip
        return [Segment(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5]), *r[6:]) for r in rows]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
