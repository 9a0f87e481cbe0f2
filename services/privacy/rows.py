"""What both key store adapters share: wrapping contexts, fresh rows and receipts.

The wrapping context binds a wrapped key to its row (tenant and key id, or tenant),
so a wrapped key copied onto another row of the database does not unwrap there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection
from typing import NamedTuple, TypeVar

from events.privacy.kek import Keyring
from events.privacy.keys import DataKey, new_data_key
from events.privacy.keystore import ErasureReceipt
from events.timestamps import format_instant, now_utc

SECRET_BYTES = 32
T = TypeVar("T", str, bytes)
CHUNK = 500  # identifiers per statement (well under every driver's parameter limit)


class KeyRow(NamedTuple):
    """A data key as stored: wrapped under KEK ``kek_version``."""

    tenant: str
    key_id: bytes
    subject: str
    wrapped: bytes
    kek_version: int


def dek_context(tenant: str, key_id: bytes) -> bytes:
    return b"tl-data-key\x00" + tenant.encode() + b"\x00" + key_id


def secret_context(tenant: str) -> bytes:
    return b"tl-tenant-secret\x00" + tenant.encode()


def new_key_row(keyring: Keyring, tenant: str, subject: str) -> KeyRow:
    key = new_data_key(tenant, subject)
    version, wrapped = keyring.wrap(key.material, dek_context(tenant, key.key_id))
    return KeyRow(tenant, key.key_id, subject, wrapped, version)


def unwrap_key(keyring: Keyring, row: KeyRow) -> DataKey:
    material = keyring.unwrap(row.kek_version, row.wrapped, dek_context(row.tenant, row.key_id))
    return DataKey.of(row.tenant, row.key_id, row.subject, material)


def rewrapped_key(keyring: Keyring, row: KeyRow) -> tuple[bytes, int]:
    """``(wrapped, kek_version)`` of the row's key under the current KEK version."""
    context = dek_context(row.tenant, row.key_id)
    version, wrapped = keyring.wrap(keyring.unwrap(row.kek_version, row.wrapped, context), context)
    return wrapped, version


def rewrapped_secret(
    keyring: Keyring, tenant: str, wrapped: bytes, version: int
) -> tuple[bytes, int]:
    context = secret_context(tenant)
    new_version, new_wrapped = keyring.wrap(keyring.unwrap(version, wrapped, context), context)
    return new_wrapped, new_version


def new_secret(keyring: Keyring, tenant: str) -> tuple[int, bytes]:
    return keyring.wrap(os.urandom(SECRET_BYTES), secret_context(tenant))


def check_erasure(actor: str, reason: str) -> None:
    """Refuse an erasure nobody answers for, before anything is deleted."""
    if not actor.strip() or not reason.strip():
        raise ValueError("an erasure needs an actor and a reason (kept on its receipt)")


def receipt(
    tenant: str, subjects: Collection[str], key_ids: list[bytes], actor: str, reason: str
) -> ErasureReceipt:
    return ErasureReceipt(
        receipt_id=str(uuid.uuid4()),
        tenant=tenant,
        erased_at=format_instant(now_utc()),
        actor=actor.strip(),
        reason=reason.strip(),
        subject_count=len(set(subjects)),
        key_count=len(key_ids),
        key_ids=tuple(sorted(k.hex() for k in key_ids)),
    )


def receipt_row(done: ErasureReceipt) -> tuple[str, str, str, str, str, int, int]:
    """The stored columns of a receipt: counts, no key ids (see ``ErasureReceipt``)."""
    return (
        done.receipt_id,
        done.tenant,
        done.erased_at,
        done.actor,
        done.reason,
        done.subject_count,
        done.key_count,
    )


def chunks(items: Collection[T]) -> list[list[T]]:
    ordered = sorted(set(items))  # sorted: concurrent writers lock rows in one order
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]
