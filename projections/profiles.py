"""A customer's profile as a function of the set of their ``customer.profile_updated`` events.

Per field, the value of the winning event: the one whose source ranks highest in the
configured precedence, then the latest by ``occurred_at``, then the highest event id (so
two events of one instant from one source still give one answer). The order events
arrive in never matters, which is what lets a replay, an out-of-order import and a late
web form all give the profile an oracle computes. A field an event sets to null is
cleared, an absent field is left as the other events say; ``name`` or ``address`` set to
null clears each of their parts.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROFILE_TYPE = "customer.profile_updated"
#: the objects whose parts are fields of their own (a later event may set one part only)
_NESTED = {
    "name": ("family", "given", "family_kana", "given_kana", "display"),
    "address": ("postal_code", "region", "city", "line1", "line2", "country"),
}


@dataclass(frozen=True, slots=True)
class ProfileEvent:
    """One profile event as the touchpoints table holds it."""

    event_id: str
    occurred_at: str  # RFC 3339 with milliseconds, UTC (compares as text)
    source: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class FieldValue:
    value: Any
    source: str
    occurred_at: str
    event_id: str


class Precedence:
    """Source ranks from an ordered list of patterns, the first the most trusted (``import:*``)."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns = tuple(p.strip() for p in patterns if p.strip())

    @classmethod
    def parse(cls, text: str) -> Precedence:
        return cls(text.split(","))

    def rank(self, source: str) -> int:
        """Higher wins; a source no pattern names ranks below every named one (0)."""
        for i, pattern in enumerate(self.patterns):
            if fnmatch.fnmatchcase(source, pattern):
                return len(self.patterns) - i
        return 0


def fields_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as flat fields (``name.family``, ``emails``, ``attributes.plan``)."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key in _NESTED:
            parts = value if isinstance(value, Mapping) else {p: None for p in _NESTED[key]}
            out.update({f"{key}.{part}": v for part, v in parts.items()})
        elif key == "attributes" and isinstance(value, Mapping):
            out.update({f"attributes.{name}": v for name, v in value.items()})
        else:
            out[key] = value
    return out


def profile_state(
    events: Iterable[ProfileEvent], precedence: Precedence | None = None
) -> dict[str, FieldValue]:
    """Every field's winning value (cleared fields left out)."""
    precedence = precedence or Precedence()
    best: dict[str, tuple[tuple[int, str, str], FieldValue]] = {}
    for event in events:
        order = (precedence.rank(event.source), event.occurred_at, event.event_id)
        for name, value in fields_of(event.payload).items():
            held = best.get(name)
            if held is None or order > held[0]:
                best[name] = (
                    order,
                    FieldValue(value, event.source, event.occurred_at, event.event_id),
                )
    return {name: field for name, (_, field) in sorted(best.items()) if field.value is not None}


def nested(state: Mapping[str, FieldValue]) -> dict[str, Any]:
    """The profile as the event schema shapes it (``name``, ``address``, ``attributes`` objects)."""
    out: dict[str, Any] = {}
    for name, field in state.items():
        head, _, part = name.partition(".")
        if part:
            out.setdefault(head, {})[part] = field.value
        else:
            out[name] = field.value
    return out


def display_name(profile: Mapping[str, Any]) -> str | None:
    """What the page's header says: the display name, else the full name in the script's order."""
    name = profile.get("name") or {}
    if name.get("display"):
        return str(name["display"])
    family, given = name.get("family"), name.get("given")
    if not family and not given:
        return None
    if _is_japanese(f"{family or ''}{given or ''}"):
        return f"{family or ''} {given or ''}".strip()
    return f"{given or ''} {family or ''}".strip()


def _is_japanese(text: str) -> bool:
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)
