"""Where the identity store lives: SQLite (embedded default) or PostgreSQL, chosen by URL.

``TOUCHLINE_IDENTITY_STORE`` is ``sqlite:///path/to/file`` or
``postgresql://user:password@host:port/dbname``; it is translated into the
eventsourcing library's own environment variables here, in one place.
"""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from services.compat.eventsourcing import RECORDER_TOPICS


class StoreUrlError(ValueError):
    """The store URL names an unknown scheme or lacks a part."""


def eventsourcing_env(url: str) -> dict[str, str]:
    """The eventsourcing settings for ``url``, with a single-writer aggregate cache."""
    parsed = urlparse(url)
    cache = {
        "AGGREGATE_CACHE_MAXSIZE": "500000",
        # One writer per partition: the cache may hand out the cached object itself.
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
    }
    if parsed.scheme == "sqlite":
        if not parsed.path:
            raise StoreUrlError("sqlite URLs need a path: sqlite:///path/to/identity.sqlite3")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": parsed.path,
            "PROCESS_RECORDER_TOPIC": RECORDER_TOPICS["sqlite"],
            **cache,
        }
    if parsed.scheme in ("postgresql", "postgres"):
        if not parsed.hostname or not parsed.path.strip("/"):
            raise StoreUrlError("postgresql URLs need a host and a database name")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": parsed.hostname,
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_DBNAME": parsed.path.strip("/"),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "PROCESS_RECORDER_TOPIC": RECORDER_TOPICS["postgres"],
            **cache,
        }
    raise StoreUrlError(
        f"unknown identity store scheme {parsed.scheme!r} (use sqlite:// or postgresql://)"
    )
