"""Which key store a deployment uses, chosen by URL like the identity store.

``sqlite:///path/to/privacy.sqlite3`` (the embedded default) or
``postgresql://user:password@host:port/dbname``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from events.privacy.kek import Keyring
from events.privacy.keystore import KeyStore


class KeyStoreUrlError(ValueError):
    """The key store URL names an unknown scheme or lacks a part."""


def open_keystore(url: str, keyring: Keyring) -> KeyStore:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        if not parsed.path:
            raise KeyStoreUrlError("sqlite URLs need a path: sqlite:///path/to/privacy.sqlite3")
        from services.privacy.sqlite import SqliteKeyStore

        return SqliteKeyStore(Path(parsed.path), keyring)
    if parsed.scheme in ("postgresql", "postgres"):
        if not parsed.hostname or not parsed.path.strip("/"):
            raise KeyStoreUrlError("postgresql URLs need a host and a database name")
        from services.privacy.postgres import PostgresKeyStore

        return PostgresKeyStore(url, keyring)
    raise KeyStoreUrlError(
        f"unknown key store scheme {parsed.scheme!r} (use sqlite:// or postgresql://)"
    )
