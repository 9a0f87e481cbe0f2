"""The ClickHouse schema as versioned migrations: ``schemas/clickhouse/NNNN_<name>.sql``.

``apply_migrations`` runs, in version order, every file not yet recorded in
``schema_migrations``, then records it with a checksum of its text. It is what
start-up and ``touchline migrate`` call, and running it again changes nothing.

ClickHouse DDL is not transactional: a file that fails half-way leaves its
first statements done and is not recorded, so the next run executes it again.
That is safe because every statement is written to be repeatable
(``CREATE ... IF NOT EXISTS``); a new migration must keep to that. A recorded
file whose text has changed is refused: migrations are history, so a change
is a new file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from events.resources import schemas_root
from projections.store import ProjectionStore

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

# Several processes may start at once against a server; ReplacingMergeTree keeps
# a version recorded twice as one row, and readers group by version anyway.
_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


class MigrationError(Exception):
    """The migrations on disk disagree with those recorded, or a file is malformed."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        return split_statements(self.sql)


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Every ``NNNN_<name>.sql`` in ``directory``, by version; two files with one version are refused."""
    directory = directory or schemas_root() / "clickhouse"
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"migration file names are NNNN_<name>.sql: {path.name}")
        version = int(match[1])
        if version in found:
            raise MigrationError(f"two migrations with version {version}: {path.name}")
        found[version] = Migration(version, match[2], path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def apply_migrations(store: ProjectionStore, directory: Path | None = None) -> list[Migration]:
    """Apply what is not yet applied, in order; return what was applied this time (oldest first)."""
    store.command(_CREATE_LEDGER)
    recorded = applied_checksums(store)
    applied: list[Migration] = []
    for migration in load_migrations(directory):
        known = recorded.get(migration.version)
        if known == migration.checksum:
            continue
        if known is not None:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} was changed after it was "
                "applied; write a new migration instead"
            )
        for statement in migration.statements():
            store.command(statement)
        _record(store, migration)
        applied.append(migration)
    return applied


def applied_checksums(store: ProjectionStore) -> dict[int, str]:
    """Version -> checksum of every recorded migration."""
    rows = store.query_rows(
        "SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version"
    )
    return {int(version): str(checksum) for version, checksum in rows}


def _record(store: ProjectionStore, migration: Migration) -> None:
    store.command(
        "INSERT INTO schema_migrations (version, name, checksum) "
        "SELECT {version:UInt32}, {name:String}, {checksum:String}",
        {"version": migration.version, "name": migration.name, "checksum": migration.checksum},
    )


def split_statements(sql: str) -> list[str]:
    """The statements of a file, split at ``;`` outside quotes and ``--`` comments.

    ClickHouse takes one statement per request, on a server as on chDB. A piece
    holding only comments (say, after the last ``;``) is not a statement.
    """
    statements: list[str] = []
    start = i = 0
    quote: str | None = None
    while i < len(sql):
        char = sql[i]
        if quote is not None:
            if char == "\\":
                i += 1  # the escaped character cannot close the quote
            elif char == quote:
                quote = None
        elif char in "'`\"":
            quote = char
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end == -1 else end
            continue
        elif char == ";":
            statements.append(sql[start:i])
            start = i + 1
        i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(piece: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in piece.splitlines())
