"""Data keys: one random AES-256-GCM key per data subject, named by a random id.

Key ids are random rather than derived from the subject, so the id written beside a
person's data says nothing about who they are, and a person seen again after an
erasure gets a key with a new id.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.privacy.blind import derive_uuid

KEY_BYTES = 32
KEY_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class DataKey:
    """A live data key. ``subject`` is the blind index of the identifier it protects.

    The ``AESGCM`` object is built once and reused for every value sealed with the key.
    """

    tenant: str
    key_id: bytes
    subject: str
    material: bytes = field(repr=False)
    aead: AESGCM = field(repr=False, compare=False)

    @classmethod
    def of(cls, tenant: str, key_id: bytes, subject: str, material: bytes) -> DataKey:
        return cls(tenant, key_id, subject, material, AESGCM(material))

    @property
    def handle(self) -> str:
        """A pseudonym for the subject that is safe in the never-expiring log (see the ADR)."""
        return self.key_id.hex()

    def derived_uuid(self, purpose: str, seed: str = "") -> uuid.UUID:
        """A stable id that nobody can recompute once this key is erased."""
        return derive_uuid(self.material, purpose, seed)


def new_data_key(tenant: str, subject: str) -> DataKey:
    return DataKey.of(tenant, os.urandom(KEY_ID_BYTES), subject, AESGCM.generate_key(256))


@dataclass(frozen=True, slots=True)
class Erased:
    """What remains of an erased key: its id and the day it was erased, nothing else."""

    key_id: bytes
    erased_on: str  # YYYY-MM-DD


KeyState = DataKey | Erased
