"""LINE Messaging API webhooks: a customer's messages, postbacks and (un)follows of the account.

Signature (developers.line.biz, "Verify webhook signature"; line-bot-sdk-python
``linebot/v3/webhook.py`` ``SignatureValidator``): ``x-line-signature`` is the base64 HMAC-SHA256
of the raw body keyed with the channel secret. It holds no timestamp; every event carries a
``webhookEventId`` that a redelivery repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from services.webhooks.delivery import RawDelivery, body_digest
from services.webhooks.mapping import Collector, Mapped, as_dict, clip, compact
from services.webhooks.signatures import SignatureRejected, equal, hmac_base64, require_header

SIGNATURE = "X-Line-Signature"
MAPPING_VERSION = "line-1"


class Line:
    name = "line"
    mapping_version = MAPPING_VERSION
    receiver_sets_secret = False

    def check_secret(self, secret: str) -> None:
        if not secret.strip():
            raise ValueError("the LINE channel secret is empty")

    def verify(self, delivery: RawDelivery, secret: str, now: datetime) -> None:
        presented = require_header(delivery, SIGNATURE)
        if not equal(hmac_base64(secret, delivery.body, "sha256"), presented):
            raise SignatureRejected("signature does not match the body")

    def delivery_id(self, delivery: RawDelivery) -> str:
        return body_digest(delivery)  # LINE names the events, not the request

    def map(self, delivery: RawDelivery, checked: bool = True) -> Mapped:
        out = Collector(delivery, MAPPING_VERSION, checked)
        try:
            body = orjson.loads(delivery.body)
        except orjson.JSONDecodeError as exc:
            out.skip("delivery", f"body is not JSON: {exc}")
            return out.result()
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            out.skip("delivery", "body has no events array")
            return out.result()
        for event in events:
            _map_event(out, event)
        return out.result()


def _map_event(out: Collector, event: object) -> None:
    if not isinstance(event, dict):
        out.skip("?", "an event that is not a JSON object")
        return
    kind = str(event.get("type") or "?")
    handler = _HANDLERS.get(kind)
    source = as_dict(event.get("source"))
    user_id = clip(source.get("userId"), 120)
    key = clip(event.get("webhookEventId"), 200)
    stamp = event.get("timestamp")
    if handler is None:
        out.skip(kind, "not an event Touchline maps")
    elif source.get("type") != "user" or user_id is None:
        out.skip(kind, "not from one user's chat with the account (a group, a room, or no user)")
    elif key is None or isinstance(stamp, bool) or not isinstance(stamp, int):
        out.skip(kind, "no webhookEventId or timestamp")
    else:
        at = datetime.fromtimestamp(stamp / 1000, UTC)
        handler(_Event(out, key, at, user_id, event))


@dataclass(frozen=True)
class _Event:
    """One user's event, with what every handler needs."""

    out: Collector
    key: str
    at: datetime
    user_id: str
    raw: dict[str, Any]

    def add(self, type_: str, payload: dict[str, Any]) -> None:
        self.out.add(type_, self.key, self.at, {"social": f"line:{self.user_id}"}, payload)

    def dm(self, text: str | None, message_id: str | None = None) -> None:
        payload = {
            "network": "line",
            "handle": self.user_id,
            "message_id": message_id,
            "text": text,
        }
        self.add("social.dm_received", compact(payload))

    def consent(self, type_: str, proof: str) -> None:
        self.add(
            type_,
            {
                "channel": "line",
                "purpose": "marketing",
                "proof": {"text": proof, "captured_by": "line"},
            },
        )


def _message(event: _Event) -> None:
    message = as_dict(event.raw.get("message"))
    text = clip(message.get("text"), 8000) if message.get("type") == "text" else None
    event.dm(text, clip(message.get("id"), 256))


def _postback(event: _Event) -> None:
    """A tap on a button the account sent: its data is what the customer chose."""
    postback = as_dict(event.raw.get("postback"))
    event.dm(clip(postback.get("data"), 8000))


def _follow(event: _Event) -> None:
    follow = as_dict(event.raw.get("follow"))
    unblocked = follow.get("isUnblocked") is True
    proof = (
        "unblocked the LINE official account"
        if unblocked
        else "added the LINE official account as a friend"
    )
    event.consent("consent.granted", proof)


_HANDLERS: dict[str, Callable[[_Event], None]] = {
    "message": _message,
    "postback": _postback,
    "follow": _follow,
    "unfollow": lambda e: e.consent("consent.withdrawn", "blocked the LINE official account"),
}
