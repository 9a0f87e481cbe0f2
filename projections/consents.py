"""Consent and deliverability as a function of the set of a customer's events, by event time.

For every channel and purpose the state is explicit: ``granted`` or ``withdrawn`` by the
latest event about it (``occurred_at``, then the event id, so arrival order never
matters, as for scores), and ``unknown`` when nothing was recorded, never a missing key
that a query reads as false. ``email.unsubscribed`` withdraws email marketing (a list's
unsubscribe too: Touchline does not keep per-list subscriptions). A hard ``email.bounced``
marks that address undeliverable until a later delivery to it says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CHANNELS = ("email", "sms", "phone", "post", "line", "push", "web")
PURPOSES = ("marketing", "service", "profiling")
GRANTED, WITHDRAWN, UNKNOWN = "granted", "withdrawn", "unknown"
#: the event types whose rows the folds read (for the store's WHERE type IN ...)
CONSENT_TYPES = (
    "consent.granted",
    "consent.withdrawn",
    "email.unsubscribed",
    "email.bounced",
    "email.delivered",
)


@dataclass(frozen=True, slots=True)
class ContactEvent:
    """An event that may change consent or deliverability, as the touchpoints table holds it."""

    type: str
    event_id: str
    occurred_at: str  # comparable: RFC 3339 UTC with milliseconds
    source: str
    payload: Mapping[str, Any]
    email: str | None = None  # the envelope's email identity (which address bounced)


def consent_state(events: Iterable[ContactEvent]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{channel: {purpose: {"state", "at", "source", "proof", "address", "event_id"}}}``, all of them."""
    latest: dict[tuple[str, str], tuple[tuple[str, str], dict[str, Any]]] = {}
    for event in events:
        change = _change(event)
        if change is None:
            continue
        key, state = change
        order = (event.occurred_at, event.event_id)
        if key not in latest or order > latest[key][0]:
            latest[key] = (order, _entry(event, state))
    return {
        channel: {
            purpose: latest[(channel, purpose)][1]
            if (channel, purpose) in latest
            else {"state": UNKNOWN}
            for purpose in PURPOSES
        }
        for channel in CHANNELS
    }


def undeliverable(events: Iterable[ContactEvent]) -> list[dict[str, Any]]:
    """The addresses whose latest word (by event time) is a hard bounce, with when and why."""
    latest: dict[str, tuple[tuple[str, str], ContactEvent]] = {}
    for event in events:
        hard = event.type == "email.bounced" and event.payload.get("bounce_type") == "hard"
        if not event.email or not (hard or event.type == "email.delivered"):
            continue
        order = (event.occurred_at, event.event_id)
        if event.email not in latest or order > latest[event.email][0]:
            latest[event.email] = (order, event)
    return [
        {
            "channel": "email",
            "address": address,
            "since": event.occurred_at,
            "reason": event.payload.get("reason"),
        }
        for address, (_, event) in sorted(latest.items())
        if event.type == "email.bounced"
    ]


def _change(event: ContactEvent) -> tuple[tuple[str, str], str] | None:
    if event.type in ("consent.granted", "consent.withdrawn"):
        channel, purpose = event.payload.get("channel"), event.payload.get("purpose")
        if channel not in CHANNELS or purpose not in PURPOSES:
            return None
        return (str(channel), str(purpose)), GRANTED if event.type.endswith(
            "granted"
        ) else WITHDRAWN
    if event.type == "email.unsubscribed":
        return ("email", "marketing"), WITHDRAWN
    return None


def _entry(event: ContactEvent, state: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "state": state,
        "at": event.occurred_at,
        "source": event.source,
        "event_id": event.event_id,
    }
    if event.type == "email.unsubscribed":
        entry["proof"] = {"text": "unsubscribed", **_some(event.payload, "campaign_id", "list_id")}
    elif event.payload.get("proof"):
        entry["proof"] = dict(event.payload["proof"])
    if event.payload.get("address"):
        entry["address"] = event.payload["address"]
    return entry


def _some(payload: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: payload[name] for name in names if payload.get(name)}
