"""What the matcher knows of a customer: names, contact points, addresses, devices, birthdays.

Values are normalized as the rest of Touchline stores them (emails lower-cased, phones in
E.164, postal codes as ingest and the import write them); names may be given as written,
since the matcher folds them itself (``events.names.fold``). ``RecordBuilder`` gathers one
customer's record from the identities of its touchpoints and its profile events.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from events.identities import is_junk

_LATIN = re.compile(r"^[A-Za-z][A-Za-z .,'\-]*$")


@dataclass(frozen=True)
class Name:
    """One way the customer's name was written; the readings (フリガナ) when known."""

    family: str = ""
    given: str = ""
    family_kana: str = ""
    given_kana: str = ""

    @classmethod
    def parse(cls, text: str, kana: str = "") -> Name:
        """A full name in one field: ``Yuki Sato`` given first, ``佐藤 由紀`` family first."""
        words = unicodedata.normalize("NFKC", text).split()
        readings = unicodedata.normalize("NFKC", kana).split()
        if len(words) < 2:
            return cls(family=" ".join(words), family_kana=" ".join(readings))
        if _LATIN.match(text.strip()):
            family, given = words[-1], " ".join(words[:-1])
        else:
            family, given = words[0], " ".join(words[1:])
        if len(readings) >= 2:
            return cls(family, given, readings[0], " ".join(readings[1:]))
        return cls(family, given)


@dataclass(frozen=True)
class Address:
    postal_code: str = ""
    region: str = ""
    city: str = ""
    line1: str = ""
    line2: str = ""


@dataclass(frozen=True)
class CustomerRecord:
    """One customer as the identity stage left it (an id, and everything known about them)."""

    customer_id: str
    names: tuple[Name, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    addresses: tuple[Address, ...] = ()
    devices: tuple[str, ...] = ()
    loyalty_ids: tuple[str, ...] = ()
    birthdays: tuple[str, ...] = ()  # YYYY-MM-DD


@dataclass
class RecordBuilder:
    """Accumulates one customer's record; every value is kept once, in the order first seen.

    ``is_junk(kind, value)`` drops values that say nothing about a person (by default ingest's
    placeholders: ``noreply@example.com`` typed into a form), which would otherwise join strangers.
    """

    customer_id: str
    is_junk: Callable[[str, str], bool] = is_junk
    names: dict[Name, None] = field(default_factory=dict)
    emails: dict[str, None] = field(default_factory=dict)
    phones: dict[str, None] = field(default_factory=dict)
    addresses: dict[Address, None] = field(default_factory=dict)
    devices: dict[str, None] = field(default_factory=dict)
    loyalty_ids: dict[str, None] = field(default_factory=dict)
    birthdays: dict[str, None] = field(default_factory=dict)

    def add_identities(self, identities: Mapping[str, str]) -> None:
        """A touchpoint's normalized identities (``customer_ref`` and ``social`` say nothing here)."""
        kinds = {
            "email": self.emails,
            "phone": self.phones,
            "device_id": self.devices,
            "loyalty_id": self.loyalty_ids,
        }
        for kind, value in identities.items():
            if kind in kinds and not self.is_junk(kind, value):
                kinds[kind][value] = None

    def add_profile(self, payload: Mapping[str, Any]) -> None:
        """A ``customer.profile_updated`` payload: its name, emails, phones, address and birthday."""
        if isinstance(name := payload.get("name"), Mapping):
            parts = {
                k: str(name.get(k) or "") for k in ("family", "given", "family_kana", "given_kana")
            }
            if any(parts.values()):
                self.names[Name(**parts)] = None
            elif name.get("display"):
                self.names[Name.parse(str(name["display"]))] = None
        for kind, into in (("email", self.emails), ("phone", self.phones)):
            for value in payload.get(f"{kind}s") or ():
                if not self.is_junk(kind, str(value)):
                    into[str(value)] = None
        if isinstance(address := payload.get("address"), Mapping):
            parts = {
                k: str(address.get(k) or "")
                for k in ("postal_code", "region", "city", "line1", "line2")
            }
            if any(parts.values()):
                self.addresses[Address(**parts)] = None
        if payload.get("birthday"):
            self.birthdays[str(payload["birthday"])] = None

    def add_name(self, name: Name) -> None:
        self.names[name] = None

    def build(self) -> CustomerRecord:
        return CustomerRecord(
            self.customer_id,
            tuple(self.names),
            tuple(self.emails),
            tuple(self.phones),
            tuple(self.addresses),
            tuple(self.devices),
            tuple(self.loyalty_ids),
            tuple(self.birthdays),
        )
