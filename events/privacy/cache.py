"""A small in-process cache in front of a ``KeyStore`` for the hot path (a key look-up per event).

Entries live ``ttl`` seconds at most, and at most ``max_entries`` of each kind are held
(the oldest go first). Tombstones and tenant secrets never change, so they do not
expire; answers of "no such key" are not cached (another process may create it next).

The window it opens: after an erasure in another process, this process may go on
using the erased key for up to ``ttl`` seconds. Readers may open the person's old
values in that window, and writers may seal new values under the erased key (they
read as erased afterwards). The erasure procedure closes it by telling every process
(``forget``) and by finishing projection deletes only after ``ttl`` has passed
(``docs/decisions/0100-crypto-shredding.md``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection
from typing import Generic, TypeVar

from events.privacy.blind import BlindIndexer
from events.privacy.keys import DataKey, Erased, KeyState
from events.privacy.keystore import ErasureReceipt, KeyStore

K = TypeVar("K")
V = TypeVar("V")


class _Expiring(Generic[K, V]):
    """A bounded dict of values with a deadline each; insertion order decides eviction."""

    def __init__(self, max_entries: int, clock: Callable[[], float]) -> None:
        self._items: dict[K, tuple[float, V]] = {}
        self._max = max_entries
        self._clock = clock

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        if found[0] < self._clock():
            self._items.pop(key, None)
            return None
        return found[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        self._items.pop(key, None)
        self._items[key] = (self._clock() + ttl, value)
        while len(self._items) > self._max:
            self._items.pop(next(iter(self._items)))

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class CachedKeyStore(KeyStore):
    """``inner`` with recent answers remembered; erasures through it are forgotten at once."""

    def __init__(
        self,
        inner: KeyStore,
        ttl: float = 30.0,
        max_entries: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self._subjects: _Expiring[tuple[str, str], DataKey] = _Expiring(max_entries, clock)
        self._ids: _Expiring[tuple[str, bytes], KeyState] = _Expiring(max_entries, clock)
        self._secrets: dict[str, bytes] = {}
        self._indexers: dict[str, BlindIndexer] = {}
        self._lock = threading.Lock()

    def subject_keys(self, tenant: str, subjects: Collection[str]) -> dict[str, DataKey]:
        found: dict[str, DataKey] = {}
        missing: list[str] = []
        with self._lock:
            for subject in subjects:
                key = self._subjects.get((tenant, subject))
                if key is None:
                    missing.append(subject)
                else:
                    found[subject] = key
        if missing:
            fetched = self.inner.subject_keys(tenant, missing)
            with self._lock:
                for subject, key in fetched.items():
                    self._subjects.put((tenant, subject), key, self.ttl)
                    self._ids.put((tenant, key.key_id), key, self.ttl)
            found.update(fetched)
        return found

    def keys_by_id(self, tenant: str, key_ids: Collection[bytes]) -> dict[bytes, KeyState]:
        found: dict[bytes, KeyState] = {}
        missing: list[bytes] = []
        with self._lock:
            for key_id in key_ids:
                state = self._ids.get((tenant, key_id))
                if state is None:
                    missing.append(key_id)
                else:
                    found[key_id] = state
        if missing:
            fetched = self.inner.keys_by_id(tenant, missing)
            with self._lock:
                for key_id, state in fetched.items():
                    ttl = math.inf if isinstance(state, Erased) else self.ttl
                    self._ids.put((tenant, key_id), state, ttl)
            found.update(fetched)
        return found

    def erase(
        self, tenant: str, subjects: Collection[str], actor: str, reason: str
    ) -> ErasureReceipt:
        receipt = self.inner.erase(tenant, subjects, actor, reason)
        self.forget(tenant, subjects, [bytes.fromhex(k) for k in receipt.key_ids])
        return receipt

    def forget(
        self, tenant: str, subjects: Collection[str] = (), key_ids: Collection[bytes] = ()
    ) -> None:
        """Drop what this process holds for erased subjects or keys (told by another process)."""
        with self._lock:
            for subject in subjects:
                key = self._subjects.get((tenant, subject))
                self._subjects.drop((tenant, subject))
                if key is not None:
                    self._ids.drop((tenant, key.key_id))
            for key_id in key_ids:
                self._ids.drop((tenant, key_id))

    def tenant_secret(self, tenant: str) -> bytes:
        secret = self._secrets.get(tenant)
        if secret is None:
            secret = self._secrets[tenant] = self.inner.tenant_secret(tenant)
        return secret

    def indexer(self, tenant: str) -> BlindIndexer:
        indexer = self._indexers.get(tenant)
        if indexer is None:
            indexer = self._indexers[tenant] = BlindIndexer(tenant, self.tenant_secret(tenant))
        return indexer

    def receipts(self, tenant: str) -> list[ErasureReceipt]:
        return self.inner.receipts(tenant)

    def rewrap(self, limit: int = 1000) -> int:
        return self.inner.rewrap(limit)

    def kek_versions(self) -> dict[int, int]:
        return self.inner.kek_versions()

    def close(self) -> None:
        self.inner.close()
