"""Names as people type them: one folded form, and the keys a search box entry should match.

An agent looking for 山田 花子 (ヤマダ ハナコ) may type ``山田花子``, ``やまだ``, ``ヤマダ ハナコ``,
``Yamada Hanako`` or ``hanako yamada``; an English name may come as ``smith, john``. Both
sides go through :func:`fold`: NFKC (full- and half-width forms), katakana read as
hiragana, Latin diacritics dropped, case folded, and spaces, middle dots and punctuation
removed. Readings are romanized in Hepburn with pykakasi (kana only: it needs no
morphological dictionary, and a kanji name is never guessed a reading), in the
spelling an IME user types (``kyouko``) and the passport one (``kyoko``, ``homma``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

import jaconv

#: Spaces, middle dots and the punctuation people put inside names (O'Brien, Jean-Paul, Smith, J.).
_SEPARATORS = re.compile(r"[\s\u00b7\u2027\u2022\u30fb\u30a0=\-\u2010-\u2015'\u2018\u2019`.,_/]+")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]")
_LATIN = re.compile(r"^[a-z]+$")
#: Long vowels as a passport writes them (ou, oo, uu, and oh before a consonant), and m before b/m/p.
_PASSPORT = ((re.compile(r"o[ou]"), "o"), (re.compile(r"uu"), "u"),
             (re.compile(r"oh(?=[^aeiouy]|$)"), "o"), (re.compile(r"n(?=[bmp])"), "m"))  # fmt: skip


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """The form two spellings of one name share: ``ﾔﾏﾀﾞ　ﾊﾅｺ`` and ``やまだはなこ`` fold alike."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _SEPARATORS.sub("", text)
    return _strip_latin_marks(jaconv.kata2hira(text))


def _strip_latin_marks(text: str) -> str:
    if text.isascii():
        return text
    out = []
    for char in text:
        if char.isascii() or not unicodedata.name(char, "").startswith("LATIN"):
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char)
        out.append("".join(c for c in base if not unicodedata.combining(c)))
    return "".join(out)


@cache
def _kakasi() -> Any:
    import pykakasi  # its dictionaries take most of a second to load: only when first needed

    return pykakasi.kakasi()


@lru_cache(maxsize=65536)
def romaji(reading: str) -> str:
    """Hepburn romanization of a kana reading (``じゅんいちろう`` -> ``junichirou``), folded."""
    if not reading or not _KANA.search(reading):
        return ""
    return fold("".join(part["hepburn"] for part in _kakasi().convert(reading)))


def passport(latin: str) -> str:
    """The spelling with long vowels shortened, as passports and business cards write them."""
    for pattern, replacement in _PASSPORT:
        latin = pattern.sub(replacement, latin)
    return latin


def search_keys(
    family: str | None = None,
    given: str | None = None,
    family_kana: str | None = None,
    given_kana: str | None = None,
    display: str | None = None,
) -> frozenset[str]:
    """Every key a search for this person should match (compare with :func:`query_keys`).

    The full name in either order, each part alone, the readings folded to hiragana, and
    their romaji in typed and passport spelling; ``display`` as a whole and word by word.
    """
    keys: set[str] = set()
    _add_pair(keys, fold(family or ""), fold(given or ""))
    kana_family, kana_given = fold(family_kana or ""), fold(given_kana or "")
    _add_pair(keys, kana_family, kana_given)
    roman_family, roman_given = romaji(kana_family), romaji(kana_given)
    _add_pair(keys, roman_family, roman_given)
    _add_pair(keys, passport(roman_family), passport(roman_given))
    if display:
        keys.add(fold(display))
        keys.update(fold(word) for word in unicodedata.normalize("NFKC", display).split())
    keys.discard("")
    return frozenset(keys)


def _add_pair(keys: set[str], family: str, given: str) -> None:
    keys.update((family, given, family + given, given + family))


def query_keys(text: str) -> frozenset[str]:
    """What an agent typed, folded as the search keys are (a Latin query also in passport spelling)."""
    folded = fold(text)
    if not folded:
        return frozenset()
    if _LATIN.match(folded):
        return frozenset((folded, passport(folded)))
    return frozenset((folded,))
