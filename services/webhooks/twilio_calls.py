"""Twilio Programmable Voice status callbacks as ``call.*`` touchpoints.

Parameters per twilio.com/docs/usage/webhooks/voice-webhooks (call status callbacks):
``CallSid``, ``CallStatus``, ``Direction``, ``From``, ``To``, ``CallDuration`` (seconds, once the
call is over), ``Timestamp`` (RFC 2822, when status events were asked for) and, for a call
recorded through the API, ``RecordingSid``, ``RecordingUrl``, ``RecordingDuration``.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from services.webhooks.mapping import Collector, clip, compact, phone_or_none

#: which side of the call is the customer, by Twilio's ``Direction``
_CUSTOMER_SIDE = {
    "inbound": ("inbound", "From"),
    "outbound-api": ("outbound", "To"),
    "trunking-terminating": ("inbound", "From"),
    "trunking-originating": ("outbound", "To"),
}
_MISSED = frozenset({"busy", "no-answer", "canceled"})
_NOT_TOUCHPOINTS = {
    "queued": "the call has not been placed yet",
    "initiated": "the call has not been answered yet",
    "ringing": "the call has not been answered yet",
    "failed": "the call could not be placed (a bad number or a carrier refusal)",
}


def map_call(out: Collector, params: dict[str, str]) -> None:
    status = params.get("CallStatus", "")
    kind = f"call:{status}"
    if status in _NOT_TOUCHPOINTS:
        out.skip(kind, _NOT_TOUCHPOINTS[status])
        return
    twilio_direction = params.get("Direction", "")
    if twilio_direction == "outbound-dial":
        out.skip(kind, "a leg dialled from another call (its parent call is the touchpoint)")
        return
    if twilio_direction not in _CUSTOMER_SIDE:
        out.skip(kind, f"unknown Direction {clip(twilio_direction, 40)!r}")
        return
    direction, side = _CUSTOMER_SIDE[twilio_direction]
    phone = phone_or_none(params.get(side))
    if phone is None:
        out.skip(kind, "the customer's side of the call is not a phone number (a client or SIP)")
        return
    _add(out, params, status, direction, phone)


def _add(out: Collector, params: dict[str, str], status: str, direction: str, phone: str) -> None:
    call = {"call_id": params.get("CallSid", ""), "direction": direction}
    at = _occurred_at(params, out.delivery.received_at)
    key = f"{call['call_id']}:{status}"
    if status == "in-progress":
        out.add("call.started", key, at, {"phone": phone}, call)
    elif status == "completed":
        payload = {**call, "duration_s": _seconds(params.get("CallDuration")), **_recording(params)}
        out.add("call.completed", key, at, {"phone": phone}, compact(payload))
    elif status in _MISSED:
        out.add("call.missed", key, at, {"phone": phone}, call)
    else:
        out.skip(f"call:{status}", "not a call status Touchline maps")


def _recording(params: dict[str, str]) -> dict[str, Any]:
    if not params.get("RecordingSid"):
        return {}
    recording = {
        "recording_id": params["RecordingSid"],
        "url": clip(params.get("RecordingUrl"), 2048),
        "duration_s": _seconds(params.get("RecordingDuration")),
    }
    return {"recording": compact(recording)}


def _seconds(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() else None


def _occurred_at(params: dict[str, str], received_at: datetime) -> datetime:
    """Twilio's ``Timestamp`` when it sent one, else when the callback arrived."""
    try:
        stamp = parsedate_to_datetime(params["Timestamp"])
    except (KeyError, TypeError, ValueError):
        return received_at
    return stamp if stamp.tzinfo else received_at
