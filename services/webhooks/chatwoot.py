"""Chatwoot account webhooks: chat messages, conversations opened and resolved, new contacts.

Signature (Chatwoot ``lib/webhooks/trigger.rb``, ``request_headers``; sent for account webhooks
that have a secret, which ``app/listeners/webhook_listener.rb`` passes): ``X-Chatwoot-Signature``
is ``sha256=`` and the hex HMAC-SHA256, keyed with the webhook's secret, of the
``X-Chatwoot-Timestamp`` header (Unix seconds, taken at each attempt), a ``.``, and the raw body.
``X-Chatwoot-Delivery`` is a UUID made when the event is queued, the same on every retry.
Chatwoot releases before signing, and its API-inbox webhooks, send no signature: they are
refused, as anyone who learnt the URL could otherwise write into the tenant's timelines.

Payloads are the models' ``webhook_data`` with ``event`` merged in (``webhook_listener.rb``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from events.timestamps import TimestampError, parse_instant
from services.webhooks.delivery import RawDelivery, body_digest
from services.webhooks.mapping import (
    Collector,
    Mapped,
    as_dict,
    clip,
    compact,
    email_or_none,
    phone_or_none,
)
from services.webhooks.signatures import (
    SignatureRejected,
    check_fresh,
    epoch_seconds,
    equal,
    hmac_hex,
    require_header,
)

SIGNATURE = "X-Chatwoot-Signature"
TIMESTAMP = "X-Chatwoot-Timestamp"
DELIVERY = "X-Chatwoot-Delivery"
TOLERANCE = timedelta(minutes=5)
MAPPING_VERSION = "chatwoot-1"
#: Chatwoot's message_type, named or as its enum's number (nested messages carry the number)
_MESSAGE_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}


class Chatwoot:
    name = "chatwoot"
    mapping_version = MAPPING_VERSION
    receiver_sets_secret = False

    def check_secret(self, secret: str) -> None:
        if not secret.strip():
            raise ValueError("the Chatwoot webhook secret is empty")

    def verify(self, delivery: RawDelivery, secret: str, now: datetime) -> None:
        presented = require_header(delivery, SIGNATURE)
        stamp = require_header(delivery, TIMESTAMP)
        sent_at = epoch_seconds(stamp, TIMESTAMP)
        expected = "sha256=" + hmac_hex(secret, stamp.encode() + b"." + delivery.body, "sha256")
        if not equal(expected, presented):
            raise SignatureRejected("signature does not match the timestamp and body")
        check_fresh(sent_at, now, TOLERANCE, TIMESTAMP)

    def delivery_id(self, delivery: RawDelivery) -> str:
        return delivery.headers.get(DELIVERY) or body_digest(delivery)

    def map(self, delivery: RawDelivery, checked: bool = True) -> Mapped:
        out = Collector(delivery, MAPPING_VERSION, checked)
        try:
            body = orjson.loads(delivery.body)
        except orjson.JSONDecodeError as exc:
            out.skip("delivery", f"body is not JSON: {exc}")
            return out.result()
        event = str(body.get("event") or "?") if isinstance(body, dict) else "?"
        handler = _HANDLERS.get(event)
        if not isinstance(body, dict):
            out.skip("delivery", "body is not a JSON object")
        elif handler is None:
            out.skip(event, "not an event Touchline maps")
        else:
            handler(out, body)
        return out.result()


def _message(out: Collector, body: dict[str, Any]) -> None:
    kind = "message_created"
    conversation = as_dict(body.get("conversation"))
    message_type = body.get("message_type")
    if isinstance(message_type, int):
        message_type = _MESSAGE_TYPES.get(message_type, str(message_type))
    text = clip(body.get("content"), 8000)
    if body.get("private") is True:
        out.skip(kind, "a private note between agents")
    elif message_type not in ("incoming", "outgoing"):
        out.skip(kind, f"a {clip(message_type, 40)} message, not one the customer saw or wrote")
    elif text is None:
        out.skip(kind, "a message without text (attachments only)")
    elif "id" not in body or "id" not in conversation:
        out.skip(kind, "no message or conversation id")
    else:
        chat_id = str(conversation["id"])
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
        type_ = "chat.message_received"
        if message_type == "outgoing":
            type_ = "chat.message_sent"
            payload["agent"] = clip(as_dict(body.get("sender")).get("name"), 128)
        at = _instant(body.get("created_at"), out.delivery.received_at)
        identities = _identities(_contact(body, conversation), _account_id(body, conversation))
        out.add(type_, f"message:{body['id']}", at, identities, compact(payload), chat_id)


def _conversation_created(out: Collector, body: dict[str, Any]) -> None:
    if "id" not in body:
        out.skip("conversation_created", "no conversation id")
        return
    chat_id = str(body["id"])
    referer = clip(as_dict(body.get("additional_attributes")).get("referer"), 2048)
    entry_url = referer if referer and referer.startswith(("http://", "https://")) else None
    at = _instant(body.get("created_at") or body.get("timestamp"), out.delivery.received_at)
    identities = _identities(_contact(body, body), _account_id(body, body))
    out.add(
        "chat.started",
        f"conversation:{chat_id}:created",
        at,
        identities,
        compact({"chat_id": chat_id, "entry_url": entry_url}),
        chat_id,
    )


def _status_changed(out: Collector, body: dict[str, Any]) -> None:
    """A resolved conversation ends the chat; a conversation resolved again ends it again."""
    status = clip(body.get("status"), 40)
    if status != "resolved" or "id" not in body:
        out.skip(f"conversation_status_changed:{status}", "only a resolution is a touchpoint")
        return
    chat_id = str(body["id"])
    changed = body.get("updated_at") or body.get("timestamp")
    at = _instant(changed, out.delivery.received_at)
    identities = _identities(_contact(body, body), _account_id(body, body))
    out.add(
        "chat.ended",
        f"conversation:{chat_id}:resolved:{changed}",
        at,
        identities,
        {"chat_id": chat_id, "resolved": True},
        chat_id,
    )


def _contact_created(out: Collector, body: dict[str, Any]) -> None:
    """What Chatwoot knows of a new contact; the payload carries no creation time."""
    if "id" not in body:
        out.skip("contact_created", "no contact id")
        return
    name = clip(body.get("name"), 256)
    email = email_or_none(body.get("email"))
    phone = phone_or_none(body.get("phone_number"))
    profile = compact(
        {
            "name": {"display": name} if name else None,
            "emails": [email] if email else None,
            "phones": [phone] if phone else None,
        }
    )
    identities = _identities(body, _account_id(body, body))
    if not profile:
        out.skip("contact_created", "a contact with no name, email or phone")
        return
    out.add(
        "customer.profile_updated",
        f"contact:{body['id']}:created",
        out.delivery.received_at,
        identities,
        profile,
    )


def _contact(body: dict[str, Any], conversation: dict[str, Any]) -> dict[str, Any]:
    """The customer: the conversation's contact (``meta.sender``), or a contact sender."""
    sender = as_dict(as_dict(conversation.get("meta")).get("sender"))
    if sender.get("type", "contact") == "contact" and sender:
        return sender
    message_sender = as_dict(body.get("sender"))
    return message_sender if message_sender.get("type") == "contact" else {}


def _identities(contact: dict[str, Any], account_id: object) -> dict[str, str]:
    """Email, phone and the tenant's own ``identifier`` link; the Chatwoot contact id (a weak,
    per-account id) lets an anonymous visitor's chats join the person once they say who they are."""
    device = f"chatwoot:{account_id}:{contact['id']}" if "id" in contact and account_id else None
    return compact(
        {
            "email": email_or_none(contact.get("email")),
            "phone": phone_or_none(contact.get("phone_number")),
            "customer_ref": clip(contact.get("identifier"), 128),
            "device_id": clip(device, 128),
        }
    )


def _account_id(body: dict[str, Any], conversation: dict[str, Any]) -> object:
    return as_dict(body.get("account")).get("id") or conversation.get("account_id")


def _instant(value: object, fallback: datetime) -> datetime:
    """Chatwoot writes times as ISO text (messages; ``... UTC`` in older releases) or Unix
    seconds (conversations)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        return fallback
    try:
        return parse_instant(value.removesuffix(" UTC") + ("Z" if value.endswith(" UTC") else ""))
    except TimestampError:
        return fallback


_HANDLERS: dict[str, Callable[[Collector, dict[str, Any]], None]] = {
    "message_created": _message,
    "conversation_created": _conversation_created,
    "conversation_status_changed": _status_changed,
    "contact_created": _contact_created,
}
