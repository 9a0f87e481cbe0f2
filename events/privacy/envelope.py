"""Sealing and opening the personal fields of one envelope, given the keys (no store here).

Each identity value is sealed under its own subject's key; every personal payload
field under the key of the event's payload subject (``payload_identity``). Values
absent or null are left as they are: null says a field was cleared, not whose it was.
An erased key opens as ``None`` at its place, listed in ``OpenedEnvelope.erased``;
values that are not sealed (events logged before sealing began) pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from events.identities import PRIMARY_ORDER
from events.privacy.ciphertext import decode_sealed, is_sealed, key_id_of, open_decoded, seal_value
from events.privacy.errors import UnknownKeyError
from events.privacy.keys import KEY_ID_BYTES, DataKey, Erased, KeyState

Json = dict[str, Any]


class EnvelopeKeys(NamedTuple):
    """The keys one envelope is sealed with: per identity kind, and for the payload."""

    identities: Mapping[str, DataKey]
    payload: DataKey | None = None


class OpenedEnvelope(NamedTuple):
    """The clear envelope; each erased value is ``None`` and its pointer is in ``erased``."""

    envelope: Json
    erased: tuple[str, ...] = ()


def payload_identity(
    identities: Mapping[str, str], is_junk: Callable[[str, str], bool]
) -> tuple[str, str]:
    """Whose key seals the payload: the strongest identifier that is not junk.

    A junk identifier (``test@example.com``) is shared by strangers and never linked to
    a customer, so a customer's erasure would not reach its key. Only when every
    identifier is junk does the strongest junk one seal the payload.
    """
    ordered = [k for k in PRIMARY_ORDER if k in identities]
    ordered += [k for k in identities if k not in PRIMARY_ORDER]
    for kind in ordered:
        if not is_junk(kind, identities[kind]):
            return kind, identities[kind]
    return ordered[0], identities[ordered[0]]


def seal_envelope(envelope: Mapping[str, Any], pointers: Sequence[str], keys: EnvelopeKeys) -> Json:
    """A copy of ``envelope`` with the value at each pointer sealed (the input is not changed)."""
    tenant = envelope["tenant"]
    out: Json = dict(envelope)
    copied: set[int] = set()
    for pointer in pointers:
        parts = pointer_parts(pointer)
        parent = _parent(out, parts, copied)
        value = None if parent is None else parent.get(parts[-1])
        if value is None:
            continue
        key = _key_for(keys, parts, pointer)
        if key.tenant != tenant:
            raise ValueError(
                f"{pointer}: a key of tenant {key.tenant!r} for an event of {tenant!r}"
            )
        assert parent is not None
        parent[parts[-1]] = seal_value(value, key, pointer)
    return out


def sealed_key_ids(sealed: Mapping[str, Any], pointers: Iterable[str]) -> set[bytes]:
    """The ids of the keys needed to open ``sealed`` (to fetch a batch's keys at once)."""
    ids = set()
    for pointer in pointers:
        value = _get(sealed, pointer_parts(pointer))
        if is_sealed(value):
            ids.add(key_id_of(value, pointer))
    return ids


def open_envelope(
    sealed: Mapping[str, Any], pointers: Sequence[str], keys: Mapping[bytes, KeyState]
) -> OpenedEnvelope:
    """The clear envelope; raises ``TamperedCiphertext`` or ``UnknownKeyError``, never for erasure."""
    tenant = sealed["tenant"]
    out: Json = dict(sealed)
    copied: set[int] = set()
    erased: list[str] = []
    for pointer in pointers:
        parts = pointer_parts(pointer)
        parent = _parent(out, parts, copied)
        value = None if parent is None else parent.get(parts[-1])
        if not is_sealed(value):
            continue
        assert parent is not None
        raw = decode_sealed(value, pointer)
        state = keys.get(raw[:KEY_ID_BYTES])
        if state is None or (isinstance(state, DataKey) and state.tenant != tenant):
            raise UnknownKeyError(
                f"{tenant} {pointer}: sealed with key {raw[:KEY_ID_BYTES].hex()},"
                " which this tenant never had"
            )
        if isinstance(state, Erased):
            parent[parts[-1]] = None
            erased.append(pointer)
        else:
            parent[parts[-1]] = open_decoded(raw, state, pointer)
    return OpenedEnvelope(out, tuple(erased))


@lru_cache(maxsize=4096)
def pointer_parts(pointer: str) -> tuple[str, ...]:
    """RFC 6901 reference tokens of ``pointer`` (object members only; arrays are sealed whole)."""
    if not pointer.startswith("/"):
        raise ValueError(f"{pointer!r} is not a JSON pointer")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))


@lru_cache(maxsize=64)
def identity_pointer(kind: str) -> str:
    """Where an identifier of ``kind`` sits: the place its sealed value is bound to everywhere."""
    return "/identities/" + kind.replace("~", "~0").replace("/", "~1")


def has_value(envelope: Mapping[str, Any], pointer: str) -> bool:
    return _get(envelope, pointer_parts(pointer)) is not None


def _key_for(keys: EnvelopeKeys, parts: tuple[str, ...], pointer: str) -> DataKey:
    key = keys.identities.get(parts[1]) if parts[0] == "identities" else keys.payload
    if key is None:
        raise ValueError(f"{pointer}: no key was given to seal it")
    return key


def _get(node: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _parent(root: Json, parts: tuple[str, ...], copied: set[int]) -> Json | None:
    """The object holding the last token, copied on the way down so the input stays as it was."""
    node = root
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return None
        if id(child) not in copied:
            child = dict(child)
            node[part] = child
            copied.add(id(child))
        node = child
    return node
