"""Comparing two prepared records field by field, each comparison giving at most one finding.

A record is prepared once (names folded into their forms, emails split, phones parsed, house
numbers read from the address lines), so that comparing a pair is cheap.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import phonenumbers
from rapidfuzz.distance import OSA

from services.matching.nameforms import NameForms, NameMatch, best_match, name_forms
from services.matching.records import CustomerRecord
from services.matching.scoring import Evidence, evidence

_DIGITS = re.compile(r"\d+")
#: Providers that are each other's near-spellings but different mailboxes.
PROVIDERS = frozenset((
    "gmail.com", "yahoo.co.jp", "yahoo.com", "icloud.com", "outlook.com", "outlook.jp",
    "hotmail.com", "hotmail.co.jp", "live.jp", "docomo.ne.jp", "ezweb.ne.jp", "au.com",
    "softbank.ne.jp", "i.softbank.jp", "ymobile.ne.jp", "nifty.com", "mail.com", "aol.com",
))  # fmt: skip
_NAME_CODES = {
    NameMatch.FULL: ("name.full", 1.0),
    NameMatch.GIVEN_SIMILAR: ("name.given_similar", 0.9),
    NameMatch.READING: ("name.reading", 0.8),
    NameMatch.FAMILY: ("name.family", 0.5),
    NameMatch.GIVEN_CONFLICT: ("name.given_conflict", 0.5),
    NameMatch.CONFLICT: ("name.conflict", 0.0),
}


@dataclass(frozen=True)
class Place:
    """An address as comparable digits: the postal code, the house numbers, the room."""

    postal: str
    house: tuple[str, ...]
    room: tuple[str, ...]


@dataclass(frozen=True)
class Prepared:
    record: CustomerRecord
    names: tuple[NameForms, ...]
    emails: tuple[tuple[str, str], ...]  # (local part, domain)
    phones: tuple[tuple[str, str, str], ...]  # (E.164, country code, national number)
    places: tuple[Place, ...]
    loyalty: tuple[tuple[str, str], ...]  # (as given, digits without leading zeros)


def prepare(record: CustomerRecord) -> Prepared:
    return Prepared(
        record,
        tuple(name_forms(n) for n in record.names),
        tuple(_split_email(e) for e in record.emails),
        tuple(p for p in (_phone_parts(x) for x in record.phones) if p is not None),
        tuple(_place(a.postal_code, a.line1, a.line2) for a in record.addresses),
        tuple((v, _digits(v)) for v in record.loyalty_ids),
    )


def compare(a: Prepared, b: Prepared, names: NameCounts | None = None) -> list[Evidence]:
    found = [
        _names(a, b, names),
        _emails(a, b),
        _phones(a, b),
        _birthdays(a.record.birthdays, b.record.birthdays),
        _devices(a.record.devices, b.record.devices),
        _loyalty(a, b),
    ]
    found += _places(a.places, b.places)
    return [e for e in found if e is not None]


class NameCounts:
    """How many records carry each full name: a name shared by many says less (see ``weight``).

    The term-frequency adjustment of record linkage: agreeing on 佐藤 翔 among 100,000
    customers is weaker evidence than agreeing on a rare name.
    """

    COMMON = 20  # a name carried by more records than this starts to weigh less
    FLOOR = 1.0

    def __init__(self, prepared: list[Prepared]) -> None:
        self.counts: Counter[str] = Counter()
        for p in prepared:
            self.counts.update(_full_keys(p))

    def weight(self, a: Prepared, b: Prepared, base: float) -> tuple[float, int]:
        """The weight of agreeing on the full name the two share, and how many carry it."""
        shared = _full_keys(a) & _full_keys(b)
        found = max((self.counts[k] for k in shared), default=0)
        if found <= self.COMMON:
            return base, found
        return max(self.FLOOR, base - math.log(found / self.COMMON)), found


def _full_keys(p: Prepared) -> set[str]:
    return {k for forms in p.names for k in forms.full_keys()}


def _names(a: Prepared, b: Prepared, names: NameCounts | None) -> Evidence | None:
    match, space = best_match(a.names, b.names)
    if match not in _NAME_CODES:
        return None
    code, similarity = _NAME_CODES[match]
    found = evidence(code, space, similarity)
    if names is None or match != NameMatch.FULL:
        return found
    weight, carriers = names.weight(a, b, found.weight)
    if weight == found.weight:
        return found
    return Evidence(code, f"{space}, a name {carriers} customers share", similarity, weight)


# -- emails -----------------------------------------------------------------


def _split_email(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def _emails(a: Prepared, b: Prepared) -> Evidence | None:
    found = [f for x in a.emails for y in b.emails if (f := email_finding(x, y)) is not None]
    if not found:
        return None
    positive = [f for f in found if f.weight > 0]
    return max(positive, key=lambda f: f.weight) if positive else min(found, key=lambda f: f.weight)


def email_finding(x: tuple[str, str], y: tuple[str, str]) -> Evidence | None:
    (local_x, domain_x), (local_y, domain_y) = x, y
    if local_x == local_y:
        if domain_x == domain_y:
            return evidence("email.same")
        if _domain_typo(domain_x, domain_y):
            return evidence("email.domain_typo", f"{domain_x} / {domain_y}", 0.9)
        return evidence("email.local_part", "", 0.5) if len(local_x) >= 6 else None
    if domain_x != domain_y and not _domain_typo(domain_x, domain_y):
        return None
    return _local_typo(local_x, local_y)


def _domain_typo(x: str, y: str) -> bool:
    return not (x in PROVIDERS and y in PROVIDERS) and OSA.distance(x, y, score_cutoff=2) <= 2


def _local_typo(x: str, y: str) -> Evidence | None:
    """Local parts a typo apart (one or two edits; a swap of neighbours is one)."""
    if min(len(x), len(y)) < 6:
        return None
    distance = OSA.distance(x, y, score_cutoff=2)
    if distance > 2:
        return None
    if _DIGITS.sub("", x) == _DIGITS.sub("", y):  # even swapped digits: a number is no slip
        return evidence("email.other_number", f"{distance} digits apart", 0.5)
    similarity = 1 - distance / max(len(x), len(y))
    found = evidence(
        "email.typo", f"{distance} edit{'s' if distance > 1 else ''} apart", similarity
    )
    if distance == 2:
        return Evidence(found.code, found.detail, found.similarity, found.weight - 1.0)
    return found


# -- phones, loyalty cards ------------------------------------------------------


def _phone_parts(e164: str) -> tuple[str, str, str] | None:
    """(number, country code, national number): the country code is the one prefix that is one.

    Read from the E.164 form directly: parsing each number again would be most of the cost
    of preparing 100,000 records.
    """
    digits = e164.removeprefix("+")
    if not e164.startswith("+") or not digits.isdigit():
        return None
    for length in (1, 2, 3):
        if int(digits[:length]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return e164, digits[:length], digits[length:]
    return None


def _phones(a: Prepared, b: Prepared) -> Evidence | None:
    best: Evidence | None = None
    for x in a.phones:
        for y in b.phones:
            if x[0] == y[0]:
                return evidence("phone.same")
            if _same_national(x, y):
                best = evidence("phone.variant", f"+{x[1]} / +{y[1]}", 0.9)
    return best


def _same_national(x: tuple[str, str, str], y: tuple[str, str, str]) -> bool:
    """One number under two country codes, or with the other's country code read as its digits."""
    nx, ny = x[2].lstrip("0"), y[2].lstrip("0")
    return len(nx) >= 8 and (nx == ny or nx == y[1] + ny or ny == x[1] + nx)


def _digits(value: str) -> str:
    return "".join(_DIGITS.findall(value)).lstrip("0")


def _loyalty(a: Prepared, b: Prepared) -> Evidence | None:
    best: Evidence | None = None
    for value_x, digits_x in a.loyalty:
        for value_y, digits_y in b.loyalty:
            if value_x == value_y:
                return evidence("loyalty_id.same")
            if len(digits_x) >= 5 and digits_x == digits_y:
                best = evidence("loyalty_id.variant", "", 0.9)
    return best


# -- addresses, birthdays, devices ----------------------------------------------


def _place(postal_code: str, line1: str, line2: str) -> Place:
    return Place(_digits_of(postal_code), _groups(line1), _groups(line2))


def _digits_of(text: str) -> str:
    return "".join(_DIGITS.findall(unicodedata.normalize("NFKC", text)))


def _groups(text: str) -> tuple[str, ...]:
    return tuple(g.lstrip("0") or "0" for g in _DIGITS.findall(unicodedata.normalize("NFKC", text)))


def _places(a: tuple[Place, ...], b: tuple[Place, ...]) -> list[Evidence]:
    """The postal code, and the house numbers where both give them.

    An address known only by its postal code (from a web form) must not hide a full one that
    is another house: the best pair is chosen among those that say the most.
    """
    pairs = [(x, y) for x in a for y in b if x.postal and y.postal]
    if not pairs:
        return []
    same = [(x, y) for x, y in pairs if x.postal == y.postal]
    if not same:
        return [evidence("postal_code.differs", "", 0.0)]
    houses = [_house(x, y) for x, y in same if x.house and y.house]
    found = [evidence("postal_code.same")]
    if houses:
        found.append(max(houses, key=lambda e: e.weight))
    return found


def _house(x: Place, y: Place) -> Evidence:
    if x.house != y.house:
        return evidence("address.differs", "", 0.0)
    if x.room and y.room and x.room != y.room:
        return evidence("address.other_room", "", 0.5)
    return evidence("address.same")


def _birthdays(a: tuple[str, ...], b: tuple[str, ...]) -> Evidence | None:
    if not a or not b:
        return None
    if set(a) & set(b):
        return evidence("birthday.same")
    swapped = {f"{d[:4]}-{d[8:10]}-{d[5:7]}" for d in a if len(d) == 10}
    if swapped & set(b):
        return evidence("birthday.swapped", "", 0.8)
    return evidence("birthday.differs", "", 0.0)


def _devices(a: tuple[str, ...], b: tuple[str, ...]) -> Evidence | None:
    shared = set(a) & set(b)
    return evidence("device.same", f"{len(shared)} shared") if shared else None
