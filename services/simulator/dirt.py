"""How values get written by people and old systems: typos, other formats, full-width forms.

Every function takes the clean value and a generator and returns a spelling that an import
still reads as the same value (NFKC, phone parsing, postal and date forms), except
``email_typo``, which makes a different address that a person would recognise as a slip.
"""

from __future__ import annotations

import random
import string

import jaconv

#: Letters next to each other on a QWERTY keyboard (a slip hits a neighbour).
NEIGHBOURS = {
    "a": "qsz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "wa", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "xa",
}  # fmt: skip
_FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in string.digits + "-+@"})


def full_width(text: str) -> str:
    """Digits, ``-``, ``+`` and ``@`` in their full-width forms (as a Japanese IME types them)."""
    return text.translate(_FULL_WIDTH)


def email_typo(email: str, rng: random.Random) -> str:
    """One slip in the letters of the local part or the domain (never in the digits)."""
    local, _, domain = email.partition("@")
    if rng.random() < 0.3:
        name, dot, tld = domain.rpartition(".")
        return f"{local}@{_letter_slip(name, rng)}{dot}{tld}"
    return f"{_letter_slip(local, rng)}@{domain}"


def _letter_slip(word: str, rng: random.Random) -> str:
    letters = [i for i, c in enumerate(word) if c in NEIGHBOURS]
    i = rng.choice(letters)
    how = rng.randrange(4)
    if how == 0 and i + 1 < len(word) and word[i + 1] in NEIGHBOURS and word[i + 1] != word[i]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swapped neighbours
    if how == 1 and len(letters) > 3:
        return word[:i] + word[i + 1 :]  # dropped
    if how == 2:
        return word[:i] + word[i] + word[i:]  # doubled
    return word[:i] + rng.choice(NEIGHBOURS[word[i]]) + word[i + 1 :]  # a neighbouring key


def email_as_typed(email: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return email.upper()
    if roll < 0.12:
        return f" {email} "
    if roll < 0.14:
        return email.replace("@", full_width("@"))
    return email


def phone_as_typed(e164: str, rng: random.Random) -> str:
    """A Japanese number nationally (090-1234-5678, 03-1234-5678) or with +81; others with their +."""
    if not e164.startswith("+81"):
        d = e164[2:]
        forms = [e164, f"+1 {d[:3]}-{d[3:6]}-{d[6:]}", f"+1 ({d[:3]}) {d[3:6]}-{d[6:]}"]
        return _maybe_full_width(rng.choice(forms), rng)
    national = "0" + e164[3:]
    area = 3 if national[1] in "789" and national[2] == "0" else _area_length(national)
    head, middle, tail = national[:area], national[area:-4], national[-4:]
    forms = [
        f"{head}-{middle}-{tail}",
        national,
        f"{head} {middle} {tail}",
        f"({head}){middle}-{tail}",
        f"+81 {head[1:]}-{middle}-{tail}",
        f"+81{national[1:]}",
    ]
    return _maybe_full_width(rng.choice(forms), rng)


def _area_length(national: str) -> int:
    """Tokyo and Osaka (03, 06) have two digits with the 0; most others three or four."""
    if national[1] in "36":
        return 2
    return 4 if national[1:4] in ("422", "466", "467") else 3


def _maybe_full_width(text: str, rng: random.Random) -> str:
    return full_width(text) if rng.random() < 0.12 else text


def postal_as_typed(code: str, rng: random.Random) -> str:
    roll = rng.random()
    if code.startswith("0") and roll < 0.4:
        return code.replace("-", "")[1:]  # a spreadsheet read it as a number
    if roll < 0.6:
        return code
    if roll < 0.75:
        return code.replace("-", "")
    if roll < 0.88:
        return f"〒{code}"
    return full_width(code)


def house_as_typed(town: str, house: tuple[int, int, int], rng: random.Random) -> str:
    chome, banchi, go = house
    roll = rng.random()
    if roll < 0.6:
        return f"{town}{chome}-{banchi}-{go}"
    if roll < 0.75:
        return f"{town}{full_width(f'{chome}-{banchi}-{go}')}"
    if roll < 0.9:
        return f"{town}{chome}丁目{banchi}番{go}号"
    return f"{town}{chome}丁目{banchi}-{go}"


def kana_as_typed(katakana: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.1:
        return jaconv.kata2hira(katakana)
    if roll < 0.2:
        return str(jaconv.z2h(katakana, kana=True, ascii=False, digit=False))
    return katakana
