"""The small SQLite files a process keeps beside its data (keys, attributes, jobs, connectors).

Each is shared by several processes on one host and by threads of one: one connection in
autocommit mode (callers take their own lock), WAL so readers never wait for a writer, and
the file's folder made first. One place, so a store cannot forget one of them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_store_file(
    path: Path, schema: str, busy_timeout_ms: int | None = None
) -> sqlite3.Connection:
    """``path`` open (created with ``schema``, statements run as a script) for any thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    if busy_timeout_ms is not None:
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    db.executescript(schema)
    return db
