"""Event time as Touchline stores it: UTC, millisecond precision, ISO 8601 with ``Z``.

One fixed textual form means timestamps sort as strings and compare equal
when they denote the same instant, whatever offset the publisher used.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimestampError(ValueError):
    """The text is not a date-time with an offset."""


def parse_instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise TimestampError(f"not a valid date-time: {exc}") from None
    if value.tzinfo is None:
        raise TimestampError("a UTC offset is required (e.g. 'Z' or '+09:00')")
    return value.astimezone(UTC)


def parse_check(canonical: str) -> str:
    """Return text already in canonical form after checking it names a real instant."""
    parse_instant(canonical)
    return canonical


def format_instant(value: datetime) -> str:
    """``2026-11-25T03:51:23.123Z``: truncated to milliseconds."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def now_utc() -> datetime:
    return datetime.now(UTC)


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch; a naive time (as ClickHouse hands them back) is UTC."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)
