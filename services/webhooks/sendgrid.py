"""SendGrid Event Webhook: signed batches of email events, mapped to ``email.*`` and consent.

Signature (Twilio SendGrid, "Getting Started with the Event Webhook Security Features";
sendgrid-python ``sendgrid/helpers/eventwebhook/__init__.py``): the
``X-Twilio-Email-Event-Webhook-Signature`` header is the base64 of a DER ECDSA P-256 / SHA-256
signature over the ``X-Twilio-Email-Event-Webhook-Timestamp`` header's text followed by the
raw body. The verification key is the base64 DER public key SendGrid shows for the webhook.
SendGrid documents no tolerance for the timestamp; five minutes either way is the one most
receivers use (Symfony's SendGrid parser among them).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from services.webhooks.delivery import RawDelivery, body_digest
from services.webhooks.mapping import Collector, Mapped, clip, compact, email_or_none
from services.webhooks.signatures import (
    SignatureRejected,
    check_fresh,
    epoch_seconds,
    require_header,
)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
TOLERANCE = timedelta(minutes=5)
MAPPING_VERSION = "sendgrid-1"


@lru_cache(maxsize=64)
def public_key(secret: str) -> ec.EllipticCurvePublicKey:
    """The key SendGrid shows (base64 DER), checked to be P-256."""
    try:
        key = load_der_public_key(base64.b64decode(secret.strip(), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a base64 DER public key as SendGrid shows it: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


class SendGrid:
    name = "sendgrid"
    mapping_version = MAPPING_VERSION
    receiver_sets_secret = False

    def check_secret(self, secret: str) -> None:
        public_key(secret)

    def verify(self, delivery: RawDelivery, secret: str, now: datetime) -> None:
        signature = require_header(delivery, SIGNATURE)
        stamp = require_header(delivery, TIMESTAMP)
        sent_at = epoch_seconds(stamp, TIMESTAMP)
        try:
            der = base64.b64decode(signature, validate=True)
            key = public_key(secret)
        except (binascii.Error, ValueError) as exc:
            raise SignatureRejected(
                f"{SIGNATURE} or the verification key is unusable: {exc}"
            ) from None
        try:
            key.verify(der, stamp.encode() + delivery.body, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise SignatureRejected("signature does not match the timestamp and body") from None
        check_fresh(sent_at, now, TOLERANCE, TIMESTAMP)

    def delivery_id(self, delivery: RawDelivery) -> str:
        return body_digest(delivery)  # SendGrid names no delivery; a retry resends the batch

    def map(self, delivery: RawDelivery, checked: bool = True) -> Mapped:
        out = Collector(delivery, MAPPING_VERSION, checked)
        try:
            events = orjson.loads(delivery.body)
        except orjson.JSONDecodeError as exc:
            out.skip("delivery", f"body is not JSON: {exc}")
            return out.result()
        if not isinstance(events, list):
            out.skip("delivery", "body is not a JSON array of events")
            return out.result()
        for item in events:
            _map_event(out, item)
        return out.result()


@dataclass(frozen=True)
class _Event:
    """What every SendGrid event carries."""

    kind: str
    key: str
    at: datetime
    email: str
    message: dict[str, str]
    raw: dict[str, Any]


def _map_event(out: Collector, item: object) -> None:
    if not isinstance(item, dict):
        out.skip("?", "an event that is not a JSON object")
        return
    kind = str(item.get("event") or "?")
    handler = _HANDLERS.get(kind)
    if handler is None:
        out.skip(kind, _NOT_MAPPED.get(kind, "not an event Touchline maps"))
        return
    event = _read(kind, item)
    if isinstance(event, str):
        out.skip(kind, event)
    else:
        handler(out, event)


def _read(kind: str, item: dict[str, Any]) -> _Event | str:
    key = clip(item.get("sg_event_id"), 200)
    if key is None:
        return "no sg_event_id"
    email = email_or_none(item.get("email"))
    if email is None:
        return "no valid email address"
    stamp = item.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return "no timestamp"
    message = _message_fields(item)
    if "message_id" not in message:
        return "no sg_message_id or smtp-id"
    return _Event(kind, key, datetime.fromtimestamp(stamp, UTC), email, message, item)


def _message_fields(item: dict[str, Any]) -> dict[str, str]:
    """The message the event is about: the part of ``sg_message_id`` before its first dot is the
    id SendGrid's send API returned (``X-Message-Id``), the same on every event of a message."""
    sg_id = clip(item.get("sg_message_id"), 256)
    smtp_id = clip(item.get("smtp-id"), 256)
    message_id = sg_id.split(".", 1)[0] if sg_id else smtp_id.strip("<>") if smtp_id else None
    return compact(
        {
            "message_id": message_id or None,
            "campaign_id": clip(item.get("marketing_campaign_id"), 128),
            "campaign_name": clip(item.get("marketing_campaign_name"), 256),
        }
    )


def _email(type_: str, extra: Callable[[_Event], dict[str, Any]] | None = None) -> _Handler:
    def handle(out: Collector, event: _Event) -> None:
        payload = {**event.message, **compact(extra(event) if extra else {})}
        out.add(type_, event.key, event.at, {"email": event.email}, payload)

    return handle


def _open(out: Collector, event: _Event) -> None:
    if event.raw.get("sg_machine_open") is True:
        out.skip("open", "a machine open (a mail client fetched the images), not the customer")
        return
    _email("email.opened", lambda e: {"user_agent": clip(e.raw.get("useragent"), 512)})(out, event)


def _bounce_type(event: _Event) -> dict[str, Any]:
    """SendGrid's ``bounce`` is a hard bounce unless its ``type`` is ``blocked`` (temporary)."""
    reason = event.raw.get("reason") or event.raw.get("status")
    soft = event.raw.get("type") == "blocked"
    return {"bounce_type": "soft" if soft else "hard", "reason": clip(reason, 512)}


def _never_sent(prefix: str, field: str, bounce_type: str) -> Callable[[_Event], dict[str, Any]]:
    def fields(event: _Event) -> dict[str, Any]:
        detail = clip(event.raw.get(field), 500)
        reason = f"{prefix}: {detail}" if detail else prefix
        return {"bounce_type": bounce_type, "reason": reason}

    return fields


def _withdraw(proof: Callable[[_Event], str], unsubscribed: bool) -> _Handler:
    """Unsubscribes and spam reports withdraw email marketing (for this address)."""

    def handle(out: Collector, event: _Event) -> None:
        if unsubscribed:
            group = clip(event.raw.get("asm_group_id"), 128)
            payload = {**event.message, **compact({"list_id": group})}
            out.add("email.unsubscribed", event.key, event.at, {"email": event.email}, payload)
        evidence = compact(
            {
                "text": proof(event),
                "captured_by": "sendgrid",
                "ip": clip(event.raw.get("ip"), 64),
                "url": clip(event.raw.get("url"), 2048),
            }
        )
        consent = {
            "channel": "email",
            "purpose": "marketing",
            "address": event.email,
            "proof": evidence,
        }
        out.add("consent.withdrawn", event.key, event.at, {"email": event.email}, consent)

    return handle


_Handler = Callable[[Collector, _Event], None]
_HANDLERS: dict[str, _Handler] = {
    "processed": _email("email.sent"),
    "delivered": _email("email.delivered"),
    "open": _open,
    "click": _email("email.clicked", lambda e: {"url": clip(e.raw.get("url"), 2048)}),
    "bounce": _email("email.bounced", _bounce_type),
    "dropped": _email("email.bounced", _never_sent("dropped", "reason", "hard")),
    "deferred": _email("email.bounced", _never_sent("deferred", "response", "soft")),
    "unsubscribe": _withdraw(lambda e: "unsubscribed from all email", unsubscribed=True),
    "group_unsubscribe": _withdraw(
        lambda e: f"unsubscribed from unsubscribe group {e.raw.get('asm_group_id')}",
        unsubscribed=True,
    ),
    "spamreport": _withdraw(lambda e: "reported an email as spam", unsubscribed=False),
}
_NOT_MAPPED = {
    "group_resubscribe": "rejoining one unsubscribe group is not consent to all email marketing",
}
