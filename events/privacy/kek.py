"""The key-encryption key (KEK): it wraps every data key and tenant secret at rest.

The KEK lives outside the database that holds the wrapped keys (a root key file
or configuration), so a copy of that database alone (a backup, a replica, a dump,
pages left on disk) reveals no key. It has numbered versions; the highest wraps,
every listed one unwraps, and retiring an old version after re-wrapping makes
every copy wrapped under it unreadable, including backups and dead database pages.

Text form: one ``<version>:<base64url of 32 bytes>`` per line (or comma-separated);
blank lines and ``#`` comments are ignored.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.privacy.errors import RootKeyError

KEK_BYTES = 32
_NONCE = 12


class Keyring:
    """The KEK versions a process knows; wrapping binds each wrapped key to its row."""

    def __init__(self, versions: Mapping[int, bytes]) -> None:
        if not versions:
            raise RootKeyError("a keyring needs at least one key-encryption key")
        for version, key in versions.items():
            if version < 1 or len(key) != KEK_BYTES:
                raise RootKeyError(f"KEK version {version}: need a version >= 1 and 32 bytes")
        self._keys = dict(versions)
        self._aeads = {version: AESGCM(key) for version, key in versions.items()}
        self.current = max(versions)

    @classmethod
    def generate(cls) -> Keyring:
        return cls({1: AESGCM.generate_key(256)})

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read the text form; errors name the offending entry, never its key."""
        versions: dict[int, bytes] = {}
        for n, entry in enumerate(text.replace(",", "\n").splitlines(), 1):
            entry = entry.split("#", 1)[0].strip()
            if not entry:
                continue
            number, _, encoded = entry.partition(":")
            try:
                versions[int(number)] = base64.urlsafe_b64decode(
                    encoded + "=" * (-len(encoded) % 4)
                )
            except (ValueError, binascii.Error):
                raise RootKeyError(
                    f"root key entry {n}: expected <version>:<base64url key>"
                ) from None
        return cls(versions)

    def dumps(self) -> str:
        lines = (
            f"{v}:{base64.urlsafe_b64encode(k).decode().rstrip('=')}"
            for v, k in sorted(self._keys.items())
        )
        return "\n".join(lines) + "\n"

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    def with_new_version(self) -> Keyring:
        """This keyring plus a fresh KEK that becomes current (the first step of a rotation)."""
        return Keyring({**self._keys, self.current + 1: AESGCM.generate_key(256)})

    def without(self, version: int) -> Keyring:
        """This keyring less an old version (the last step of a rotation, after re-wrapping)."""
        if version == self.current:
            raise RootKeyError(f"KEK version {version} is current: add a newer one first")
        return Keyring({v: k for v, k in self._keys.items() if v != version})

    def wrap(self, material: bytes, context: bytes) -> tuple[int, bytes]:
        """``(version, nonce | ciphertext+tag)``; ``context`` names the row the key belongs to."""
        nonce = os.urandom(_NONCE)
        return self.current, nonce + self._aeads[self.current].encrypt(nonce, material, context)

    def unwrap(self, version: int, wrapped: bytes, context: bytes) -> bytes:
        aead = self._aeads.get(version)
        if aead is None:
            raise RootKeyError(f"no KEK version {version} in the keyring (retired too early?)")
        try:
            return aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], context)
        except InvalidTag:
            raise RootKeyError(
                f"a key wrapped under KEK version {version} does not unwrap: wrong root key,"
                " or a wrapped key copied to another row"
            ) from None
