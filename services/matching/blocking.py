"""Which pairs to compare: records sharing a blocking key, one family of keys per rule.

Comparing all pairs of 100,000 customers is 5·10⁹ comparisons; comparing the records that
share a key (a full name and a postal code, a phone's last eight digits, a device ...) is a
few per record. Emails a typo apart share no key; they are found as sorted neighbours
(``email_neighbours``). A block larger than ``max_block`` says too little to be worth its
pairs (a store's kiosk device, one name in one postal code) and is skipped, and counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from rapidfuzz.distance import OSA

from services.matching.compare import Prepared

RULES = (
    "name_and_address",  # the same full name, and postal code or house numbers
    "name_and_birthday",
    "family_birthday_postal",  # the same family name, birthday and postal code
    "email_typo",  # local parts two edits apart at most, any domain (``email_neighbours``)
    "phone_variant",  # the same last eight digits
    "shared_device",
    "loyalty_variant",
)
MAX_BLOCK = 40
EMAIL_WINDOW = 8
_MIN_LOCAL = 4
_DIGITS = re.compile(r"\d+")


@dataclass
class Blocks:
    pairs: dict[tuple[int, int], set[str]] = field(default_factory=dict)
    blocks: int = 0
    skipped: int = 0


def keys(p: Prepared) -> set[str]:
    """Every block ``p`` belongs to, as ``rule|key`` (see ``RULES``)."""
    found: set[str] = set()
    full = {k for forms in p.names for k in forms.full_keys()}
    postal = {place.postal for place in p.places if place.postal}
    houses = {"-".join(place.house) for place in p.places if len(place.house) >= 2}
    birthdays = p.record.birthdays
    for name in full:
        found.update(f"name_and_address|{name}|{code}" for code in postal)
        found.update(f"name_and_address|{name}|#{house}" for house in houses)
        found.update(f"name_and_birthday|{name}|{day}" for day in birthdays)
    if birthdays and postal:
        for name in {k for forms in p.names for k in forms.family_keys()}:
            for day in birthdays:
                found.update(f"family_birthday_postal|{name}|{day}|{code}" for code in postal)
    found.update(f"phone_variant|{n[-8:]}" for _, _, n in p.phones if len(n) >= 8)
    found.update(f"shared_device|{d}" for d in p.record.devices)
    found.update(f"loyalty_variant|{digits}" for _, digits in p.loyalty if len(digits) >= 5)
    return found


def candidate_pairs(prepared: Sequence[Prepared], max_block: int = MAX_BLOCK) -> Blocks:
    first: dict[str, int] = {}  # most keys have one record: no list for them
    shared: dict[str, list[int]] = {}
    for index, p in enumerate(prepared):
        for key in keys(p):
            seen = first.setdefault(key, index)
            if seen == index:
                continue
            if key in shared:
                shared[key].append(index)
            else:
                shared[key] = [seen, index]
    out = Blocks(blocks=len(shared))
    pairs = out.pairs
    for key, indices in shared.items():
        if len(indices) > max_block:
            out.skipped += 1
            continue
        _add(pairs, combinations(indices, 2), key.partition("|")[0])
    _add(pairs, email_neighbours(prepared), "email_typo")
    return out


def _add(
    pairs: dict[tuple[int, int], set[str]], found: Iterable[tuple[int, int]], rule: str
) -> None:
    for pair in found:
        if pair in pairs:
            pairs[pair].add(rule)
        else:
            pairs[pair] = {rule}


def email_neighbours(
    prepared: Sequence[Prepared], window: int = EMAIL_WINDOW
) -> set[tuple[int, int]]:
    """Records whose email local parts are at most two edits apart (a swap counts one).

    Sorted neighbourhoods: the local parts sorted as written and reversed, each compared with
    the next ``window``; a slip keeps either what comes before it or what comes after it, so
    one of the two orders puts the two spellings close together.
    """
    locals_ = [
        (local, i)
        for i, p in enumerate(prepared)
        for local, _ in p.emails
        if len(local) >= _MIN_LOCAL
    ]
    found: set[tuple[int, int]] = set()
    for ordered in (sorted(locals_), sorted((local[::-1], i) for local, i in locals_)):
        for at, (text, i) in enumerate(ordered):
            for other, j in ordered[at + 1 : at + 1 + window]:
                if i == j or OSA.distance(text, other, score_cutoff=2) > 2:
                    continue
                if not _renumbered(text, other):
                    found.add((i, j) if i < j else (j, i))
    return found


def _renumbered(a: str, b: str) -> bool:
    """The same letters, other digits (taro1980, taro1981, taro1890): another person's number."""
    return a != b and _DIGITS.sub("", a) == _DIGITS.sub("", b)
