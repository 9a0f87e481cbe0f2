"""Dates and times as exports write them: ``1980/1/2``, ``1980年1月2日``, ``昭和55年1月2日``, ``S55.1.2``.

Japanese era years count from the era's first year (元年 is year 1); a date outside its era
(``昭和64年2月1日``: Heisei had begun) is refused rather than guessed. Times without an offset
are in the mapping's time zone.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Literal
from zoneinfo import ZoneInfo

from events.timestamps import format_instant

DateOrder = Literal["ymd", "mdy", "dmy"]
#: Era, its initial as written in short forms, and its first day.
ERAS = {
    "明治": ("M", dt.date(1868, 1, 1)), "大正": ("T", dt.date(1912, 7, 30)),
    "昭和": ("S", dt.date(1926, 12, 25)), "平成": ("H", dt.date(1989, 1, 8)),
    "令和": ("R", dt.date(2019, 5, 1)),
}  # fmt: skip
_ERA_BY_INITIAL = {initial: name for name, (initial, _) in ERAS.items()}
_ERA = re.compile(
    r"^(明治|大正|昭和|平成|令和|[MTSHR])\s*(元|\d{1,2})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$"
)
_YMD = re.compile(
    r"^(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SHORT_YEAR_LAST = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
_TIME = re.compile(
    r"^(\d{4})[./-](\d{1,2})[./-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$"
)


class DateProblem(ValueError):
    """The text is not a date in a form this import reads (the message says which forms)."""


def parse_date(text: str, order: DateOrder = "ymd") -> dt.date:
    """A calendar date from any of the module's forms; ``order`` decides ``1/2/1980``."""
    text = unicodedata.normalize("NFKC", text).strip().upper()
    if match := _ERA.match(text):
        return _era_date(*match.groups())
    if match := _YMD.match(text) or _COMPACT.match(text):
        return _date(int(match[1]), int(match[2]), int(match[3]))
    if match := _SHORT_YEAR_LAST.match(text):
        a, b, year = int(match[1]), int(match[2]), int(match[3])
        if order == "ymd":
            raise DateProblem(
                f"{text!r}: day and month order unknown (set date_order to mdy or dmy)"
            )
        return _date(year, a, b) if order == "mdy" else _date(year, b, a)
    raise DateProblem(
        f"{text!r} is not a date (expected e.g. 1980-01-02, 1980/1/2, 1980年1月2日, 昭和55年1月2日)"
    )


def _date(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise DateProblem(f"{year}-{month:02d}-{day:02d} is not a date: {exc}") from None


def _era_date(era: str, year: str, month: str, day: str) -> dt.date:
    name = _ERA_BY_INITIAL.get(era, era)
    start = ERAS[name][1]
    value = _date(start.year + (1 if year == "元" else int(year)) - 1, int(month), int(day))
    later = [s for _, s in ERAS.values() if s > start]
    if value < start or (later and value >= min(later)):
        raise DateProblem(f"{name}{year}年{month}月{day}日 is outside the {name} era")
    return value


def parse_birthday(text: str, order: DateOrder, today: dt.date) -> str:
    value = parse_date(text, order)
    if value > today or value.year < 1880:
        raise DateProblem(f"{value.isoformat()} is not a plausible birthday")
    return value.isoformat()


def parse_instant(text: str, zone: ZoneInfo) -> str:
    """An event time in canonical UTC form; a time without an offset is in ``zone``."""
    text = unicodedata.normalize("NFKC", text).strip()
    try:
        value = dt.datetime.fromisoformat(text.replace("/", "-").replace("z", "Z"))
    except ValueError:
        value = _loose_time(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return format_instant(value)


def _loose_time(text: str) -> dt.datetime:
    match = _TIME.match(text)
    if not match:
        try:
            return dt.datetime.combine(parse_date(text), dt.time())
        except DateProblem:
            raise DateProblem(
                f"{text!r} is not a date and time (expected e.g. 2024-05-01 10:30)"
            ) from None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        clock = (int(hour or 0), int(minute or 0), int(second or 0), micros)
        return dt.datetime(int(year), int(month), int(day), *clock)
    except ValueError as exc:
        raise DateProblem(f"{text!r} is not a date and time: {exc}") from None
