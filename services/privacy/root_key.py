"""The root key file: the KEK versions, kept apart from the database of wrapped keys.

Created on first use with mode 0600 (and refused when group or others may read it,
as ssh refuses a private key). Rotation adds a version; retiring removes one once no
stored key is wrapped under it. Writes go to a temporary file renamed over the old
one, so a crash leaves the old file or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from events.privacy.errors import RootKeyError
from events.privacy.kek import Keyring

_HEADER = (
    "# Touchline root keys (KEK versions); the highest wraps. Keep apart from the key store.\n"
)


def load_root_keys(path: Path) -> Keyring:
    """The keyring in ``path``, created (one fresh version) when the file does not exist."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first: read theirs
            _write(path, Keyring.generate(), exclusive=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise RootKeyError(f"{path}: readable by others (mode {stat.filemode(mode)}); chmod 600 it")
    return Keyring.parse(path.read_text())


def add_root_key_version(path: Path) -> int:
    """Add a fresh KEK version that wraps from now on; returns its number."""
    keyring = load_root_keys(path).with_new_version()
    _write(path, keyring)
    return keyring.current


def retire_root_key_version(path: Path, version: int) -> None:
    """Remove ``version`` for good: keys still wrapped under it can never be read again."""
    _write(path, load_root_keys(path).without(version))


def _write(path: Path, keyring: Keyring, exclusive: bool = False) -> None:
    """Write a whole file beside ``path`` and move it into place (``exclusive``: only if absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(_HEADER + keyring.dumps())
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            os.link(temporary, path)  # fails if it exists, and never shows a half-written file
        else:
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
