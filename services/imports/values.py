"""One cell's text to the value a profile field holds, or a ``ValueProblem`` saying what is wrong.

Every function takes text already read from the file; ``None`` means the cell says nothing
(empty, ``-``, ``なし``, ``N/A``) and the field is left out of the event, never cleared.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from events.identities import IdentityError, normalize_email, normalize_phone
from services.imports.readers import UNDECODABLE
from services.imports.regions import country_code, prefecture

ABSENT = frozenset(("", "-", "--", "ー", "―", "‐", "なし", "無し", "n/a", "null", "none", "#n/a"))
_SPACES = re.compile(r"\s+")
_JP_POSTAL = re.compile(r"^〒?\s*(\d{3})-?(\d{4})$")
_US_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z0-9]{2,8}))?$")
LANGUAGES = {"japanese": "ja", "日本語": "ja", "english": "en", "英語": "en", "chinese": "zh",
             "中国語": "zh", "korean": "ko", "韓国語": "ko"}  # fmt: skip
YES = frozenset(("yes", "y", "true", "1", "はい", "希望する", "希望", "許可", "可", "同意", "購読",
                 "subscribed", "opted in", "○", "◯", "on"))  # fmt: skip
NO = frozenset(("no", "n", "false", "0", "いいえ", "希望しない", "不要", "拒否", "不可", "配信停止",
                "解除", "unsubscribed", "opted out", "×", "off"))  # fmt: skip


class ValueProblem(ValueError):
    """A cell's text cannot become the field's value."""


@lru_cache(maxsize=65536)
def clean(raw: str) -> str | None:
    """NFKC (full-width letters, digits and spaces to their plain forms), spaces collapsed."""
    if UNDECODABLE in raw:
        raise ValueProblem("holds bytes the file's encoding cannot read (give --encoding)")
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", raw)).strip()
    return None if text.casefold() in ABSENT else text


def email(text: str) -> str:
    try:
        return normalize_email(text.replace(" ", ""))
    except IdentityError as exc:
        raise ValueProblem(f"{text!r}: {exc}") from None


def phone(text: str, region: str) -> str:
    try:
        return normalize_phone(text, region)
    except IdentityError as exc:
        raise ValueProblem(f"{text!r}: {exc}") from None


def postal_code(text: str, country: str | None) -> str:
    """``123-4567`` in Japan (a 6-digit number is one whose leading 0 a spreadsheet dropped)."""
    compact = text.replace(" ", "")
    if country == "JP":
        if compact.isdigit() and len(compact) == 6:
            compact = "0" + compact
        if match := _JP_POSTAL.match(compact):
            return f"{match[1]}-{match[2]}"
        raise ValueProblem(f"{text!r} is not a Japanese postal code (7 digits, e.g. 123-4567)")
    if country == "US":
        if match := _US_ZIP.match(compact):
            return match[1] + (f"-{match[2]}" if match[2] else "")
        raise ValueProblem(f"{text!r} is not a US ZIP code")
    return text.lstrip("〒").strip().upper()


def region(text: str, country: str | None) -> str:
    if country != "JP":
        return text
    found = prefecture(text)
    if found is None:
        raise ValueProblem(f"{text!r} is not a Japanese prefecture")
    return found


def country(text: str) -> str:
    code = country_code(text)
    if code is None:
        raise ValueProblem(f"{text!r} is not a country name or ISO code this import knows")
    return code


def language(text: str) -> str:
    folded = text.casefold()
    if folded in LANGUAGES:
        return LANGUAGES[folded]
    match = _LANGUAGE.match(folded)
    if not match:
        raise ValueProblem(f"{text!r} is not a language (expected e.g. ja, en-US or Japanese)")
    return match[1] + (
        f"-{match[2].upper() if len(match[2]) == 2 else match[2]}" if match[2] else ""
    )


def yes_no(text: str) -> bool:
    folded = text.casefold()
    if folded in YES:
        return True
    if folded in NO:
        return False
    raise ValueProblem(f"{text!r} is neither yes nor no")
