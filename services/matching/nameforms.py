"""Names in the forms two records can meet in: kanji as written, the reading, and romaji.

A kanji name and a katakana one meet only through the reading (フリガナ): a kanji name is
never guessed a reading, as in ``events.names``. A reading and a Latin name meet in Hepburn
romaji, in passport spelling (the typed ``satou`` folds to ``sato``). Old forms of kanji
common in family names (髙, 﨑, 邊, 齋 ...) are read as the everyday form, as registries do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from events.names import fold, passport, romaji
from services.matching.records import Name

ITAIJI = str.maketrans({
    "髙": "高", "﨑": "崎", "嵜": "崎", "邊": "辺", "邉": "辺", "齋": "斎", "齊": "斉", "澤": "沢",
    "濱": "浜", "嶋": "島", "嶌": "島", "廣": "広", "國": "国", "櫻": "桜", "瀨": "瀬", "德": "徳",
    "惠": "恵", "眞": "真", "冨": "富", "藏": "蔵", "龍": "竜", "實": "実", "條": "条", "淺": "浅",
    "壽": "寿", "榮": "栄", "彌": "弥", "禮": "礼", "靜": "静", "曾": "曽", "萬": "万", "與": "与",
})  # fmt: skip
_KANJI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_KANA_ONLY = re.compile(r"^[\u3041-\u3096\u30fc]+$")
_LATIN_ONLY = re.compile(r"^[a-z]+$")
SPACES = ("kanji", "reading", "romaji")


class NameMatch(IntEnum):
    """How two names compare, worst to best."""

    CONFLICT = 0  # the family names differ
    GIVEN_CONFLICT = 1  # the family names agree, the given names differ
    UNKNOWN = 2  # no form in which both can be read
    FAMILY = 3  # the family names agree, the given names cannot be compared
    READING = 4  # the same reading, but written in other kanji (伊藤 and 伊東: a slip, or not)
    GIVEN_SIMILAR = 5  # the family names agree, the given names nearly (a typo)
    FULL = 6


@dataclass(frozen=True)
class NameForms:
    """(family, given) in each space; ``""`` where a part cannot be read in that space."""

    kanji: tuple[str, str]
    reading: tuple[str, str]
    romaji: tuple[str, str]

    def space(self, name: str) -> tuple[str, str]:
        pair: tuple[str, str] = getattr(self, name)
        return pair

    def full_keys(self) -> set[str]:
        """Blocking keys: the kanji name, and the romaji in both orders (a Latin name may come
        either way). Two readings that agree agree in romaji too, so they need no key of their own.
        """
        keys = {"".join(self.kanji)} if any(self.kanji) else set()
        family, given = self.romaji
        if family or given:
            keys.update((f"{family}{given}", f"{given}{family}"))
        return keys

    def family_keys(self) -> set[str]:
        return {pair[0] for pair in (self.kanji, self.romaji) if pair[0]}


@lru_cache(maxsize=65536)
def name_forms(name: Name) -> NameForms:
    family, given = _written(name.family), _written(name.given)
    reading = (_reading(family, name.family_kana), _reading(given, name.given_kana))
    written = (family, given) if _KANJI.search(family + given) else ("", "")
    return NameForms(
        written,  # スミス 蒼太 in full: two names sharing 蒼太 must not agree on it alone
        reading,
        (_roman(family, reading[0]), _roman(given, reading[1])),
    )


def _written(text: str) -> str:
    return fold(text).translate(ITAIJI)


def _reading(written: str, kana: str) -> str:
    if kana:
        return fold(kana)
    return written if _KANA_ONLY.match(written) else ""


def _roman(written: str, reading: str) -> str:
    if reading:
        return passport(romaji(reading))
    return passport(written) if _LATIN_ONLY.match(written) else ""


def compare_names(a: NameForms, b: NameForms) -> tuple[NameMatch, str]:
    """The match and the space it was found in (``kanji``, ``reading`` or ``romaji``)."""
    if space := _full_space(a, b):
        kanji_a, kanji_b = "".join(a.kanji), "".join(b.kanji)
        if kanji_a and kanji_b and space != "kanji" and kanji_a != kanji_b:
            return NameMatch.READING, space
        return NameMatch.FULL, space
    family = [s for s in SPACES if a.space(s)[0] and a.space(s)[0] == b.space(s)[0]]
    if not family:
        comparable = any(a.space(s)[0] and b.space(s)[0] for s in SPACES)
        return (NameMatch.CONFLICT if comparable else NameMatch.UNKNOWN), ""
    return _given(a, b), family[0]


def _full_space(a: NameForms, b: NameForms) -> str:
    """The first space sharing a full name, when at least one of the two has both parts.

    One with both parts may meet one whose whole name sits in the family field (``佐藤　由紀``
    typed into 姓); two family names alone are not a full name.
    """
    for s in SPACES:
        (fa, ga), (fb, gb) = a.space(s), b.space(s)
        if (ga or gb) and fa + ga and {fa + ga, ga + fa} & {fb + gb, gb + fb}:
            return s
    return ""


def _given(a: NameForms, b: NameForms) -> NameMatch:
    best = NameMatch.FAMILY
    for s in SPACES:
        ga, gb = a.space(s)[1], b.space(s)[1]
        if not ga or not gb:
            continue
        if s != "kanji" and Levenshtein.normalized_similarity(ga, gb) >= 0.8:
            return NameMatch.GIVEN_SIMILAR
        best = NameMatch.GIVEN_CONFLICT
    return best


def best_match(a: tuple[NameForms, ...], b: tuple[NameForms, ...]) -> tuple[NameMatch, str]:
    """The best of every pair of the two records' names (``UNKNOWN`` when one has none)."""
    best: tuple[NameMatch, str] | None = None
    for x in a:
        for y in b:
            found = compare_names(x, y)
            if found[0] == NameMatch.FULL:
                return found
            if best is None or found[0] > best[0]:
                best = found
    return best or (NameMatch.UNKNOWN, "")
