"""API keys, each scoped to one tenant and one role (and, for publishers, event types).

Only a SHA-256 digest of a key is stored: a leaked key file does not leak keys.
The key itself is shown once, when created.
"""

from __future__ import annotations

import abc
import fnmatch
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

Role = Literal["publisher", "agent", "supervisor", "analyst", "operator"]
#: agent: reads customers with email/phone masked; supervisor: reads them in full;
#: operator: runs projection replays on the projection service (platform-wide, see PLATFORM)
ROLES: tuple[Role, ...] = ("publisher", "agent", "supervisor", "analyst", "operator")
_PREFIX = {
    "publisher": "tlp",
    "agent": "tla",
    "supervisor": "tls",
    "analyst": "tln",
    "operator": "tlo",
}


#: the tenant of an operator key: a replay rebuilds one table that holds every tenant, so
#: operator keys are the platform's, never a tenant's (docs/decisions/0028-platform-operators.md)
PLATFORM = "*"


class KeyError_(ValueError):
    """A key request is invalid (unknown role, malformed tenant, ...)."""


@dataclass(frozen=True)
class ApiKey:
    """What a presented key grants."""

    key_id: str
    tenant: str
    role: Role
    types: tuple[str, ...]

    @property
    def platform_operator(self) -> bool:
        return self.role == "operator" and self.tenant == PLATFORM

    def may_publish(self, event_type: str) -> bool:
        """Publishers may send the types matching their patterns (all types when none given)."""
        if self.role != "publisher":
            return False
        return not self.types or any(fnmatch.fnmatchcase(event_type, p) for p in self.types)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(role: Role) -> str:
    return f"{_PREFIX[role]}_{secrets.token_urlsafe(32)}"


class KeyStore(abc.ABC):
    """Persistent API keys."""

    @abc.abstractmethod
    def create(self, tenant: str, role: Role, types: tuple[str, ...] = ()) -> str:
        """Store a new key and return it; it cannot be read back later."""

    @abc.abstractmethod
    def revoke(self, key_or_id: str) -> bool:
        """Revoke by the key itself or its id; False when no such active key exists."""

    @abc.abstractmethod
    def lookup(self, key: str) -> ApiKey | None:
        """The grant of an active key; None for unknown or revoked keys."""

    @abc.abstractmethod
    def is_active(self, key_id: str) -> bool:
        """Whether the key with this id is still unrevoked (long-lived streams ask again)."""
