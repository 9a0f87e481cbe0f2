"""Blind indexes and derived ids: keyed hashes, so that nobody without the secret can compute them.

A plain hash of an email is recomputable by anyone who knows the email; an HMAC
under the tenant's secret is not, and two tenants' indexes of one email differ.
Callers pass *normalized* identifier values (``events.identities``), so one spelling
gives one index.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from functools import lru_cache

INDEX_BYTES = 16  # 128 bits: no collision between two subjects of one tenant in practice
_INDEX = b"tl-blind-index-v1\x00"
_UUID = b"tl-derived-uuid-v1\x00"


def blind_index(tenant_secret: bytes, kind: str, value: str) -> str:
    """Hex HMAC-SHA256 of ``kind`` and ``value``, truncated to 128 bits."""
    message = _INDEX + kind.encode() + b"\x00" + value.encode()
    return hmac.digest(tenant_secret, message, "sha256")[:INDEX_BYTES].hex()


def derive_uuid(secret: bytes, purpose: str, seed: str) -> uuid.UUID:
    """A version-8 UUID from HMAC-SHA256(secret, purpose, seed): stable, and opaque without ``secret``."""
    message = _UUID + purpose.encode() + b"\x00" + seed.encode()
    raw = int.from_bytes(hmac.digest(secret, message, "sha256")[:16], "big")
    raw &= ~(0xF000 << 64) & ~(0xC000 << 48)  # clear the version and variant bits
    raw |= (0x8000 << 64) | (0x8000 << 48)  # version 8 (RFC 9562 custom), RFC variant
    return uuid.UUID(int=raw)


class BlindIndexer:
    """One tenant's blind indexes, with the HMAC key prepared once and recent answers cached.

    Ingest indexes every identifier of every event and the same identifiers recur,
    so the cache turns most calls into a dictionary look-up.
    """

    def __init__(self, tenant: str, tenant_secret: bytes, cache_size: int = 65_536) -> None:
        self.tenant = tenant
        self._prepared = hmac.new(tenant_secret, _INDEX, hashlib.sha256)
        self._secret = tenant_secret
        self.index = lru_cache(maxsize=cache_size)(self._index)

    def _index(self, kind: str, value: str) -> str:
        mac = self._prepared.copy()
        mac.update(kind.encode() + b"\x00" + value.encode())
        return mac.digest()[:INDEX_BYTES].hex()

    def derived_uuid(self, purpose: str, seed: str) -> uuid.UUID:
        return derive_uuid(self._secret, purpose, seed)
