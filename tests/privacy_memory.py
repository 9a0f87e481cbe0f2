"""A ``KeyStore`` in memory, for unit tests of what uses one (it passes the same contract)."""

from __future__ import annotations

import threading
from collections.abc import Collection

from events.privacy.kek import Keyring
from events.privacy.keys import DataKey, Erased, KeyState
from events.privacy.keystore import ErasureReceipt, KeyStore
from events.timestamps import format_instant, now_utc
from services.privacy.rows import (
    KeyRow,
    check_erasure,
    new_key_row,
    new_secret,
    receipt,
    rewrapped_key,
    rewrapped_secret,
    secret_context,
    unwrap_key,
)


class MemoryKeyStore(KeyStore):
    """Rows kept wrapped, as the real adapters keep them, so KEK rotation behaves the same."""

    def __init__(self, keyring: Keyring | None = None) -> None:
        self.keyring = keyring or Keyring.generate()
        self.rows: dict[tuple[str, str], KeyRow] = {}  # (tenant, subject) -> live key
        self.tombstones: dict[tuple[str, bytes], str] = {}
        self.secrets: dict[str, tuple[int, bytes]] = {}
        self.stored_receipts: list[ErasureReceipt] = []
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def subject_keys(self, tenant: str, subjects: Collection[str]) -> dict[str, DataKey]:
        self.calls.append("subject_keys")
        with self._lock:
            for subject in subjects:
                if (tenant, subject) not in self.rows:
                    self.rows[(tenant, subject)] = new_key_row(self.keyring, tenant, subject)
            return {s: unwrap_key(self.keyring, self.rows[(tenant, s)]) for s in subjects}

    def keys_by_id(self, tenant: str, key_ids: Collection[bytes]) -> dict[bytes, KeyState]:
        self.calls.append("keys_by_id")
        wanted = set(key_ids)
        with self._lock:
            out: dict[bytes, KeyState] = {
                r.key_id: unwrap_key(self.keyring, r)
                for (t, _), r in self.rows.items()
                if t == tenant and r.key_id in wanted
            }
            for key_id in wanted - out.keys():
                if (tenant, key_id) in self.tombstones:
                    out[key_id] = Erased(key_id, self.tombstones[(tenant, key_id)])
        return out

    def erase(
        self, tenant: str, subjects: Collection[str], actor: str, reason: str
    ) -> ErasureReceipt:
        check_erasure(actor, reason)
        with self._lock:
            erased = [r.key_id for s in subjects if (r := self.rows.pop((tenant, s), None))]
            for key_id in erased:
                self.tombstones[(tenant, key_id)] = format_instant(now_utc())[:10]
            done = receipt(tenant, subjects, erased, actor, reason)
            self.stored_receipts.append(
                ErasureReceipt(**{**done.__dict__, "key_ids": ()})  # counts only, as stored
            )
        return done

    def tenant_secret(self, tenant: str) -> bytes:
        with self._lock:
            if tenant not in self.secrets:
                self.secrets[tenant] = new_secret(self.keyring, tenant)
            version, wrapped = self.secrets[tenant]
        return self.keyring.unwrap(version, wrapped, secret_context(tenant))

    def receipts(self, tenant: str) -> list[ErasureReceipt]:
        return [r for r in self.stored_receipts if r.tenant == tenant]

    def rewrap(self, limit: int = 1000) -> int:
        done = 0
        with self._lock:
            for where, row in list(self.rows.items()):
                if row.kek_version != self.keyring.current and done < limit:
                    wrapped, version = rewrapped_key(self.keyring, row)
                    self.rows[where] = row._replace(wrapped=wrapped, kek_version=version)
                    done += 1
            for tenant, (version, wrapped) in list(self.secrets.items()):
                if version != self.keyring.current and done < limit:
                    new_wrapped, new_version = rewrapped_secret(
                        self.keyring, tenant, wrapped, version
                    )
                    self.secrets[tenant] = (new_version, new_wrapped)
                    done += 1
        return done

    def kek_versions(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for version in [r.kek_version for r in self.rows.values()] + [
            v for v, _ in self.secrets.values()
        ]:
            counts[version] = counts.get(version, 0) + 1
        return counts

    def close(self) -> None:
        pass
