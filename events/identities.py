"""Identity normalization: one spelling per identifier, so that links are found.

``Tanaka@Example.com `` and ``tanaka@example.com`` must resolve to one customer,
as must ``(415) 555-2671`` and ``+14155552671``. Phone numbers are parsed with
libphonenumber's rules; numbers without a country code use the configured
default region.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import phonenumbers

from events.problems import Problem

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The order in which an identity becomes the event's primary one (its Kafka key).
PRIMARY_ORDER = ("customer_ref", "loyalty_id", "email", "phone", "social", "device_id")
#: Placeholders people and systems type when they have no real identifier: they never link.
JUNK = frozenset({
    "email:test@example.com", "email:noreply@example.com", "email:no-reply@example.com",
    "email:none@none.com", "email:null@null.com", "phone:+10000000000", "customer_ref:0",
    "customer_ref:unknown", "loyalty_id:0",
})  # fmt: skip
_REPEATED_DIGITS = re.compile(r"^\+?(\d)\1{6,}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_junk(kind: str, value: str, blocklist: frozenset[str] = JUNK) -> bool:
    """Whether a normalized identifier is a placeholder (judged in clear, at ingest)."""
    if not value.strip() or f"{kind}:{value}" in blocklist:
        return True
    return kind == "phone" and bool(_REPEATED_DIGITS.match(value.lstrip("+1")))


class IdentityError(ValueError):
    """An identifier cannot be normalized (the message says why)."""


def normalize_email(raw: str) -> str:
    value = raw.strip().lower()
    if not _EMAIL.match(value):
        raise IdentityError("not an email address (expected name@domain.tld)")
    return value


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, region: str) -> str:
    """E.164 form of ``raw``; cached because parsing is the costliest step of intake."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise IdentityError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise IdentityError(f"not a valid phone number (default region {region})")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalize_social(raw: str) -> str:
    network, _, handle = raw.strip().partition(":")
    handle = handle.strip().lstrip("@").lower()
    if not network or not handle:
        raise IdentityError("expected network:handle, e.g. x:tanaka_y")
    return f"{network.lower()}:{handle}"


def normalize_plain(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise IdentityError("must not be blank")
    return value


def normalize_identities(
    identities: Mapping[str, str], region: str
) -> tuple[dict[str, str], list[Problem]]:
    """Normalize every identifier; problems name each one that cannot be."""
    out: dict[str, str] = {}
    problems: list[Problem] = []
    for kind, raw in identities.items():
        if _CONTROL.search(raw):
            problems.append(
                Problem(
                    f"/identities/{kind}",
                    "control characters (NUL, line breaks, ...) are not allowed in an identifier",
                )
            )
            continue
        try:
            out[kind] = _normalize_one(kind, raw, region)
        except IdentityError as exc:
            problems.append(Problem(f"/identities/{kind}", str(exc)))
    return out, problems


#: the profile payload's lists of identifiers, and the kind each holds
LISTED = (("emails", "email"), ("phones", "phone"))


def normalize_listed(
    payload: Mapping[str, Any], identities: Mapping[str, str], region: str
) -> tuple[list[tuple[str, str]], list[Problem]]:
    """The (kind, normalized value) a profile lists beyond its identities, once each, in order."""
    linked: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for field, kind in LISTED:
        for n, raw in enumerate(payload.get(field) or ()):
            place = f"/payload/{field}/{n}"
            if _CONTROL.search(raw):
                problems.append(Problem(place, "control characters are not allowed here"))
                continue
            try:
                value = _normalize_one(kind, raw, region)
            except IdentityError as exc:
                problems.append(Problem(place, f"not a usable {kind}: {exc}"))
                continue
            if identities.get(kind) != value and (kind, value) not in linked:
                linked.append((kind, value))
    return linked, problems


def _normalize_one(kind: str, raw: str, region: str) -> str:
    if kind == "email":
        return normalize_email(raw)
    if kind == "phone":
        return normalize_phone(raw.strip(), region)
    if kind == "social":
        return normalize_social(raw)
    return normalize_plain(raw)


def identity_digest(kind: str, value: str) -> str:
    """A short, stable stand-in for an identifier, for state that must not hold PII."""
    return hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).hexdigest()


def primary_identity(identities: Mapping[str, str]) -> tuple[str, str]:
    """The strongest identifier an event carries: it decides the event's partition."""
    for kind in PRIMARY_ORDER:
        if kind in identities:
            return kind, identities[kind]
    kind = next(iter(identities))
    return kind, identities[kind]
