"""The sealed form of one value: a JSON string ``"tl1:" + base64url(key_id | nonce | ciphertext+tag)``.

The plaintext is the value's JSON (strings, numbers, objects, arrays alike), so a
value opens to exactly what was sealed. The associated data binds the ciphertext to
its tenant and its place (a JSON pointer such as ``/identities/email`` or
``/payload/text``): moved to another tenant or field, it no longer authenticates.
"""

from __future__ import annotations

import binascii
import os
from functools import lru_cache
from typing import Any, TypeGuard

import orjson
from cryptography.exceptions import InvalidTag

from events.privacy.errors import TamperedCiphertext
from events.privacy.keys import KEY_ID_BYTES, DataKey

PREFIX = "tl1:"
NONCE_BYTES = _NONCE = 12
_TAG = 16
_HEADER = KEY_ID_BYTES + _NONCE
_ID_CHARS = 24  # base64 characters that hold the key id
_AAD = b"tl1\x00"
_FROM_URLSAFE = bytes.maketrans(b"-_+/", b"+/!!")  # "+" and "/" are not base64url
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def is_sealed(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith(PREFIX)


@lru_cache(maxsize=16_384)
def associated_data(tenant: str, place: str) -> bytes:
    return _AAD + tenant.encode() + b"\x00" + place.encode()


def seal_value(value: Any, key: DataKey, place: str, nonce: bytes | None = None) -> str:
    """Seal ``value`` (any JSON value) under ``key`` at ``place`` in ``key.tenant``.

    ``nonce``: 12 fresh random bytes, for callers that draw randomness in bulk; never reuse one.
    """
    nonce = nonce or os.urandom(_NONCE)
    body = key.aead.encrypt(nonce, orjson.dumps(value), associated_data(key.tenant, place))
    encoded = binascii.b2a_base64(key.key_id + nonce + body, newline=False).translate(_TO_URLSAFE)
    return PREFIX + encoded.decode().rstrip("=")


def decode_sealed(sealed: str, place: str = "") -> bytes:
    """The raw ``key_id | nonce | ciphertext+tag`` of a sealed value (checked for form, not yet for truth)."""
    if not sealed.startswith(PREFIX):
        raise TamperedCiphertext(f"{place}: not a sealed value (no {PREFIX} prefix)")
    text = sealed[len(PREFIX) :]
    try:
        padded = (text + "=" * (-len(text) % 4)).encode("ascii").translate(_FROM_URLSAFE)
        raw = binascii.a2b_base64(padded, strict_mode=True)
    except (ValueError, binascii.Error):  # UnicodeEncodeError is a ValueError
        raise TamperedCiphertext(f"{place}: sealed value is not base64url") from None
    if len(raw) < _HEADER + _TAG:
        raise TamperedCiphertext(f"{place}: sealed value is truncated ({len(raw)} bytes)")
    return raw


def key_id_of(sealed: str, place: str = "") -> bytes:
    """The id of the key that sealed ``sealed``, to look keys up before opening.

    Only the first 24 characters are decoded (18 bytes: the id and two more); the
    whole value is checked when it is opened.
    """
    head = sealed[len(PREFIX) : len(PREFIX) + _ID_CHARS]
    if not sealed.startswith(PREFIX) or len(head) < _ID_CHARS:
        return decode_sealed(sealed, place)[:KEY_ID_BYTES]  # raises with the reason
    try:
        return binascii.a2b_base64(head.encode("ascii").translate(_FROM_URLSAFE), strict_mode=True)[
            :KEY_ID_BYTES
        ]
    except (ValueError, binascii.Error):
        raise TamperedCiphertext(f"{place}: sealed value is not base64url") from None


def open_value(sealed: str, key: DataKey, place: str) -> Any:
    """The value sealed at ``place`` in ``key.tenant``; ``TamperedCiphertext`` if it is not that."""
    return open_decoded(decode_sealed(sealed, place), key, place)


def open_decoded(raw: bytes, key: DataKey, place: str) -> Any:
    """``open_value`` for what ``decode_sealed`` returned."""
    if raw[:KEY_ID_BYTES] != key.key_id:
        raise TamperedCiphertext(
            f"{key.tenant} {place}: sealed with another key than the one given"
        )
    try:
        plain = key.aead.decrypt(
            raw[KEY_ID_BYTES:_HEADER], raw[_HEADER:], associated_data(key.tenant, place)
        )
    except InvalidTag:
        raise TamperedCiphertext(
            f"{key.tenant} {place}: does not authenticate (edited, or moved from another"
            " tenant or field)"
        ) from None
    return orjson.loads(plain)
