"""Webhook connectors: which provider and tenant a ``/v1/webhooks/{provider}/{id}`` URL stands for.

Configuration, not code: a connector is added per provider account, and its id (random,
URL-safe) goes into the URL the provider calls. The connector decides the tenant, never the
payload. Its secret is sealed (``sealing``); a rotation keeps the previous secret usable for a
grace period so that deliveries signed before it, and retried after, still verify.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from events.timestamps import now_utc
from services.platform.sqlite_files import open_store_file
from services.webhooks.provider import Provider
from services.webhooks.registry import PROVIDERS
from services.webhooks.sealing import Sealer

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: how long a rotated-out secret still verifies: past the providers' retries of a delivery
#: signed before the rotation (Shopify signs with the old secret for up to an hour after one)
DEFAULT_GRACE = timedelta(hours=24)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_connectors (
    connector_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    tenant TEXT NOT NULL,
    secret BLOB,
    previous_secret BLOB,
    previous_until REAL,
    created_at REAL NOT NULL,
    rotated_at REAL,
    revoked_at REAL
)
"""
_COLUMNS = "connector_id, provider, tenant, created_at, rotated_at, revoked_at"


class ConnectorError(ValueError):
    """A connector request that cannot be carried out (the message says what and why)."""


@dataclass(frozen=True)
class Connector:
    """A connector as listed: never its secret."""

    connector_id: str
    provider: str
    tenant: str
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def path(self) -> str:
        return f"/v1/webhooks/{self.provider}/{self.connector_id}"


Connectors = list[Connector]


@dataclass(frozen=True)
class Issued:
    """A connector just added or rotated; ``secret`` only when Touchline generated it (shown once)."""

    connector: Connector
    secret: str | None


@dataclass(frozen=True)
class Credentials:
    """What checking one delivery needs: the tenant, and the secrets usable now (current first)."""

    connector: Connector
    secrets: tuple[str, ...]


class SqliteConnectorStore:
    """Connectors in a SQLite file, secrets sealed with the ``Sealer`` given."""

    def __init__(
        self,
        path: Path,
        sealer: Sealer,
        providers: Mapping[str, Provider] = PROVIDERS,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._db = open_store_file(path, _SCHEMA)
        self._lock = threading.Lock()
        self._sealer = sealer
        self._providers = providers
        self._clock = clock

    def add(self, provider: str, tenant: str, secret: str | None = None) -> Issued:
        """A new connector; without ``secret`` one is generated where the receiver may choose it."""
        chosen = self._provider(provider)
        if not _TENANT.match(tenant):
            raise ConnectorError(f"tenant must match {_TENANT.pattern}, not {tenant!r}")
        value, generated = self._secret_for(chosen, secret)
        connector_id = secrets.token_urlsafe(18)
        now = self._clock().timestamp()
        with self._lock:
            self._db.execute(
                "INSERT INTO webhook_connectors (connector_id, provider, tenant, secret, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (connector_id, provider, tenant, self._seal(connector_id, value), now),
            )
        return Issued(self._get(connector_id), value if generated else None)

    def rotate(
        self, connector_id: str, secret: str | None = None, grace: timedelta = DEFAULT_GRACE
    ) -> Issued:
        """Replace the secret; the one replaced still verifies for ``grace``."""
        connector = self._get(connector_id)
        if not connector.active:
            raise ConnectorError(f"connector {connector_id} is revoked")
        value, generated = self._secret_for(self._provider(connector.provider), secret)
        now = self._clock()
        with self._lock:
            self._db.execute(
                "UPDATE webhook_connectors SET previous_secret = secret, previous_until = ?,"
                " secret = ?, rotated_at = ? WHERE connector_id = ? AND revoked_at IS NULL",
                (
                    (now + grace).timestamp(),
                    self._seal(connector_id, value),
                    now.timestamp(),
                    connector_id,
                ),
            )
        return Issued(self._get(connector_id), value if generated else None)

    def revoke(self, connector_id: str) -> bool:
        """Stop the connector at once; its secrets are erased. False when none was active."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE webhook_connectors SET revoked_at = ?, secret = NULL,"
                " previous_secret = NULL, previous_until = NULL"
                " WHERE connector_id = ? AND revoked_at IS NULL",
                (self._clock().timestamp(), connector_id),
            )
        return cur.rowcount > 0

    def list(self, include_revoked: bool = False) -> Connectors:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM webhook_connectors{where} ORDER BY created_at, connector_id"
            ).fetchall()
        return [_connector(row) for row in rows]

    def get(self, connector_id: str) -> Connector | None:
        """The connector, revoked or not (a receiver tells a revoked one from an unknown one)."""
        try:
            return self._get(connector_id)
        except ConnectorError:
            return None

    def credentials(self, provider: str, connector_id: str) -> Credentials | None:
        """For a delivery to ``/v1/webhooks/{provider}/{connector_id}``: None unless that active
        connector exists for that very provider."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS}, secret, previous_secret, previous_until"
                " FROM webhook_connectors WHERE connector_id = ? AND revoked_at IS NULL",
                (connector_id,),
            ).fetchone()
        if row is None or row[1] != provider:
            return None
        usable = [self._open(connector_id, row[6])]
        if row[7] is not None and row[8] is not None and self._clock().timestamp() < row[8]:
            usable.append(self._open(connector_id, row[7]))
        return Credentials(_connector(row[:6]), tuple(usable))

    def close(self) -> None:
        self._db.close()

    # -- pieces ---------------------------------------------------------------------------

    def _provider(self, name: str) -> Provider:
        if name not in self._providers:
            raise ConnectorError(f"provider must be one of {', '.join(sorted(self._providers))}")
        return self._providers[name]

    @staticmethod
    def _secret_for(provider: Provider, secret: str | None) -> tuple[str, bool]:
        if secret is None:
            if not provider.receiver_sets_secret:
                raise ConnectorError(f"{provider.name} issues the secret: give it with --secret")
            return secrets.token_urlsafe(32), True
        try:
            provider.check_secret(secret)
        except ValueError as exc:
            raise ConnectorError(f"{provider.name} secret: {exc}") from None
        return secret.strip(), False

    def _get(self, connector_id: str) -> Connector:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM webhook_connectors WHERE connector_id = ?",
                (connector_id,),
            ).fetchone()
        if row is None:
            raise ConnectorError(f"no connector {connector_id!r}")
        return _connector(row)

    def _seal(self, connector_id: str, secret: str) -> bytes:
        return self._sealer.seal(secret.encode(), connector_id.encode())

    def _open(self, connector_id: str, sealed: bytes) -> str:
        return self._sealer.open(sealed, connector_id.encode()).decode()


def _connector(row: tuple[object, ...]) -> Connector:
    connector_id, provider, tenant, created, rotated, revoked = row
    return Connector(
        str(connector_id),
        str(provider),
        str(tenant),
        _time(created),
        _time(rotated) if rotated is not None else None,
        _time(revoked) if revoked is not None else None,
    )


def _time(value: object) -> datetime:
    assert isinstance(value, float | int)
    return datetime.fromtimestamp(value, UTC)
