"""The raw delivery as ``webhooks.raw`` keeps it: sealed so that erasing any person it names shreds it.

A delivery is one body for possibly many people (a SendGrid batch names a hundred addresses),
so it cannot be sealed field by field as an envelope is. It is sealed whole under a fresh
delivery key, and that key is split into XOR shares, one sealed under each named subject's
data key (``/webhook/share``): opening needs every share, so erasing any one of those people
makes the whole delivery unreadable (their co-recipients' touchpoints stay in ``touchpoints``;
only the replay of that delivery is lost). The people named are the mapped envelopes'
identifiers and every email, E.164 phone and LINE user id found anywhere in the body, so a
delivery of a type nobody maps is still tied to whoever it names. A delivery naming nobody is
sealed under the connector's own subject (``webhook_connector``).

Outside the seal: tenant, provider, connector, delivery id, mapping version, and the event ids
the mapping gave (uuid5 of provider ids, as public as in ``touchpoints``), so a replay can tell
what a changed mapping adds.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.identities import IdentityError, normalize_email, normalize_phone
from events.privacy.ciphertext import key_id_of, open_value, seal_value
from events.privacy.errors import TamperedCiphertext
from events.privacy.keys import Erased
from events.privacy.protector import EnvelopeProtector
from events.records import Record
from events.topics import WEBHOOKS_RAW
from services.webhooks.delivery import RawDelivery

FORMAT = 1
SHARE_PLACE = "/webhook/share"
CONNECTOR_KIND = "webhook_connector"
_KEY = 32
_NONCE = 12
_LOCAL_PART = re.compile(rb"[A-Za-z0-9._%+'-]{1,64}\Z")
_DOMAIN = re.compile(rb"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_PHONE = re.compile(rb"\+[1-9][0-9]{6,14}")
_LINE_USER = re.compile(rb"\bU[0-9a-f]{32}\b")
Named = frozenset[tuple[str, str]]


class RawUnreadable(ValueError):
    """A ``webhooks.raw`` record that is not one, or whose seal does not open (not erasure)."""


@dataclass(frozen=True)
class RawEntry:
    """One logged delivery; ``delivery`` is None once someone it names was erased."""

    tenant: str
    provider: str
    connector_id: str
    delivery_id: str
    mapping_version: str
    event_ids: tuple[str, ...]
    delivery: RawDelivery | None


def named_in(delivery: RawDelivery, identities: Iterable[Mapping[str, str]]) -> Named:
    """Everyone the delivery names: the mapped identifiers, and what the body itself shows."""
    found = {(kind, value) for ids in identities for kind, value in ids.items()}
    text = delivery.body
    form = delivery.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if form or delivery.provider == "twilio":
        text = unquote_plus(text.decode("utf-8", "replace")).encode()
    for match in _emails(text):
        _add(found, "email", match.decode(), normalize_email)
    for match in set(_PHONE.findall(text)):
        _add(found, "phone", match.decode(), lambda v: normalize_phone(v, "ZZ"))
    for match in set(_LINE_USER.findall(text)):
        found.add(("social", f"line:{match.decode()}"))
    return frozenset(found)


def _emails(text: bytes) -> set[bytes]:
    """Every address-shaped run around an ``@``: found from each ``@`` outwards, a few times
    faster than one pattern tried at every byte of a large batch."""
    out: set[bytes] = set()
    at = text.find(b"@")
    while at != -1:
        local = _LOCAL_PART.search(text, max(0, at - 64), at)
        domain = _DOMAIN.match(text, at + 1)
        if local and domain:
            out.add(text[local.start() : domain.end()])
        at = text.find(b"@", at + 1)
    return out


def _add(found: set[tuple[str, str]], kind: str, raw: str, normalize: Any) -> None:
    with contextlib.suppress(IdentityError):  # not an address after all: nobody named
        found.add((kind, normalize(raw)))


def raw_record(
    delivery: RawDelivery,
    tenant: str,
    delivery_id: str,
    mapping_version: str,
    event_ids: Iterable[str],
    named: Named,
    protector: EnvelopeProtector | None,
) -> Record:
    """The ``webhooks.raw`` record of a verified delivery, keyed by tenant and connector."""
    head: dict[str, Any] = {
        "format": FORMAT,
        "tenant": tenant,
        "provider": delivery.provider,
        "connector_id": delivery.connector_id,
        "delivery_id": delivery_id,
        "mapping_version": mapping_version,
        "event_ids": sorted(set(event_ids)),
    }
    if protector is None:
        body = {**head, "delivery": delivery.as_record()}
    else:
        body = {**head, **_sealed(delivery, tenant, named, protector, _aad(head))}
    headers = (("tenant", tenant.encode()), ("provider", delivery.provider.encode()))
    key = f"{tenant}|{delivery.connector_id}".encode()
    return Record(key, orjson.dumps(body), headers, WEBHOOKS_RAW)


def _sealed(
    delivery: RawDelivery,
    tenant: str,
    named: Named,
    protector: EnvelopeProtector,
    aad: bytes,
) -> dict[str, Any]:
    people = named or {(CONNECTOR_KIND, delivery.connector_id)}
    subjects = sorted({protector.subject(tenant, kind, value) for kind, value in people})
    keys = protector.store.subject_keys(tenant, subjects)
    delivery_key = os.urandom(_KEY)
    shares = [os.urandom(_KEY) for _ in subjects[1:]]
    shares.insert(0, _xor(delivery_key, *shares))
    sealed_shares = [
        seal_value(base64.b64encode(share).decode(), keys[subject], SHARE_PLACE)
        for subject, share in zip(subjects, shares, strict=True)
    ]
    nonce = os.urandom(_NONCE)
    plain = orjson.dumps(delivery.as_record())
    sealed = nonce + AESGCM(delivery_key).encrypt(nonce, plain, aad)
    return {"shares": sealed_shares, "sealed": base64.b64encode(sealed).decode()}


def open_raw(value: bytes, protector: EnvelopeProtector | None) -> RawEntry:
    """The entry of a ``webhooks.raw`` value; raises ``RawUnreadable`` for anything but erasure."""
    try:
        body = orjson.loads(value)
        head = _head(body)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RawUnreadable(f"not a webhooks.raw record: {exc}") from None
    if "delivery" in body:
        delivery: RawDelivery | None = RawDelivery.from_record(body["delivery"])
    elif protector is None:
        raise RawUnreadable("a sealed delivery, and encryption is off in this process")
    else:
        delivery = _open_sealed(body, head, protector)
    return RawEntry(
        head["tenant"],
        head["provider"],
        head["connector_id"],
        head["delivery_id"],
        head["mapping_version"],
        tuple(head["event_ids"]),
        delivery,
    )


def _head(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"format {body.get('format') if isinstance(body, dict) else '?'}")
    names = ("format", "tenant", "provider", "connector_id", "delivery_id", "mapping_version")
    head = {name: body[name] for name in names}
    head["event_ids"] = list(body["event_ids"])
    return head


def _open_sealed(
    body: dict[str, Any], head: dict[str, Any], protector: EnvelopeProtector
) -> RawDelivery | None:
    tenant = head["tenant"]
    try:
        shares: list[str] = list(body["shares"])
        ids = [key_id_of(share, SHARE_PLACE) for share in shares]
        states = protector.store.keys_by_id(tenant, ids)
        if any(isinstance(states.get(i), Erased) for i in ids):
            return None
        parts = []
        for share, key_id in zip(shares, ids, strict=True):
            key = states.get(key_id)
            if key is None or isinstance(key, Erased):
                raise RawUnreadable(f"{tenant}: a share sealed with a key this tenant never had")
            parts.append(base64.b64decode(open_value(share, key, SHARE_PLACE)))
        sealed = base64.b64decode(body["sealed"])
        plain = AESGCM(_xor(*parts)).decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(head))
    except (TamperedCiphertext, InvalidTag, KeyError, TypeError, ValueError) as exc:
        raise RawUnreadable(f"{tenant} {head['delivery_id']}: does not open ({exc})") from None
    return RawDelivery.from_record(orjson.loads(plain))


def _aad(head: Mapping[str, Any]) -> bytes:
    """Binds the sealed delivery to its tenant, connector and delivery id."""
    return b"\x00".join(
        str(head[name]).encode() for name in ("tenant", "provider", "connector_id", "delivery_id")
    )


def _xor(first: bytes, *rest: bytes) -> bytes:
    out = bytearray(first)
    for part in rest:
        for i, byte in enumerate(part):
            out[i] ^= byte
    return bytes(out)
