"""The ``KeyStore`` port: where data keys and tenant secrets live, and how erasure destroys them.

Adapters (``services/privacy/``) store every key wrapped by the KEK (``events.privacy.kek``),
never in clear, and translate driver errors into ``KeyStoreError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass

from events.privacy.blind import BlindIndexer
from events.privacy.keys import DataKey, KeyState


@dataclass(frozen=True)
class ErasureReceipt:
    """What one erasure did, without any personal value.

    ``key_ids`` (hex) are on the receipt handed back, for the caller to tell caches and
    readers; the stored copy keeps only the counts, so that the erasure log cannot link
    an erased person's key ids (written in the log beside their events) to the request.
    """

    receipt_id: str
    tenant: str
    erased_at: str  # canonical UTC instant
    actor: str
    reason: str
    subject_count: int
    key_count: int
    key_ids: tuple[str, ...] = ()


class KeyStore(ABC):
    """Data keys per subject (a blind index), tenant secrets, erasure and KEK rotation."""

    @abstractmethod
    def subject_keys(self, tenant: str, subjects: Collection[str]) -> dict[str, DataKey]:
        """The live key of each subject, created when it has none (also after an erasure).

        Idempotent and safe under concurrent callers in several processes: every caller
        gets the same key for a subject. The key is durable before this returns, so an
        event sealed with it may be acknowledged.
        """

    @abstractmethod
    def keys_by_id(self, tenant: str, key_ids: Collection[bytes]) -> dict[bytes, KeyState]:
        """The key (or its ``Erased`` tombstone) for each id this tenant ever had.

        An id absent from the answer never existed in this tenant: a forged or
        misrouted value, which readers must refuse rather than read as erased.
        """

    @abstractmethod
    def erase(
        self, tenant: str, subjects: Collection[str], actor: str, reason: str
    ) -> ErasureReceipt:
        """Delete the subjects' live keys for good, leaving a tombstone per key id.

        Idempotent: subjects without a live key are counted but nothing fails. The
        deletion is scrubbed from the storage the adapter controls before it returns
        (or ``ErasureIncomplete`` is raised and the call should be repeated).
        ``actor`` and ``reason`` are kept on the receipt: they must not hold personal values.
        """

    @abstractmethod
    def tenant_secret(self, tenant: str) -> bytes:
        """The tenant's 32-byte secret for blind indexes and derived ids, created on first use."""

    @abstractmethod
    def receipts(self, tenant: str) -> list[ErasureReceipt]:
        """The tenant's stored erasure receipts, oldest first (counts only, no key ids)."""

    @abstractmethod
    def rewrap(self, limit: int = 1000) -> int:
        """Re-wrap up to ``limit`` stored keys not under the keyring's current KEK version.

        Returns how many were re-wrapped; call until it returns 0 during a KEK rotation.
        """

    @abstractmethod
    def kek_versions(self) -> dict[int, int]:
        """How many stored keys each KEK version wraps: a version absent here may be retired."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""

    def subject_key(self, tenant: str, subject: str) -> DataKey:
        """The live key of one subject (see ``subject_keys``)."""
        return self.subject_keys(tenant, (subject,))[subject]

    def key_by_id(self, tenant: str, key_id: bytes) -> KeyState | None:
        """One key or tombstone by id; ``None`` if the tenant never had it."""
        return self.keys_by_id(tenant, (key_id,)).get(key_id)

    def indexer(self, tenant: str) -> BlindIndexer:
        """Blind indexes under the tenant's secret (a caching wrapper memoizes this)."""
        return BlindIndexer(tenant, self.tenant_secret(tenant))
