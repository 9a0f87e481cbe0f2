"""Secrets stored so that the file alone does not give them away.

A webhook check needs the provider's secret itself (an HMAC key, a public key), not a digest as
API keys can be kept, so the connector store seals each secret with a key held elsewhere. The
``Sealer`` port lets a key-management service stand in for the local key later.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32


class SealError(ValueError):
    """A sealed value did not open: another key, another row, or altered bytes."""


class Sealer(Protocol):
    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt ``plaintext``, bound to ``context`` (which must be given again to open it)."""

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plaintext of ``sealed``; raises ``SealError`` if it was not sealed with ``context``."""


class AesGcmSealer:
    """AES-256-GCM with a random 96-bit nonce; the context is authenticated, not stored.

    Layout: a version byte, the nonce, the ciphertext with its tag. The version byte leaves
    room for another key or algorithm without guessing what old rows hold.
    """

    _VERSION = b"\x01"
    _NONCE = 12

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(self._NONCE)
        return self._VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if sealed[:1] != self._VERSION:
            raise SealError("sealed with an unknown format version")
        nonce, ciphertext = sealed[1 : 1 + self._NONCE], sealed[1 + self._NONCE :]
        try:
            return self._aead.decrypt(nonce, ciphertext, context)
        except InvalidTag:
            raise SealError("does not open with this key and context") from None


def load_or_create_key(path: Path) -> bytes:
    """The local sealing key (base64 in ``path``), created readable by its owner only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(base64.b64encode(key).decode() + "\n")
        return key
    try:
        key = base64.b64decode(path.read_text().strip(), validate=True)
    except binascii.Error:
        raise SealError(f"{path} does not hold a base64 key") from None
    if len(key) != KEY_BYTES:
        raise SealError(f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte key")
    return key
