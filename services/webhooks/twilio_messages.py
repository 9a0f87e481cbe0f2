"""Twilio Messaging webhooks (incoming messages, status callbacks) as ``sms.*`` touchpoints.

Parameters per twilio.com/docs/messaging/guides/webhook-request: ``MessageSid`` (``SmsSid`` on
older callbacks), ``From``, ``To``, ``Body``, ``NumMedia`` for an incoming message, whose
``SmsStatus`` is ``received``; ``MessageStatus`` and ``ErrorCode`` on a status callback for a
message the tenant sent. WhatsApp addresses arrive as ``whatsapp:+E164``: an incoming WhatsApp
message becomes ``social.dm_received``; other channels' addresses are left unmapped.
"""

from __future__ import annotations

from services.webhooks.mapping import Collector, clip, compact, phone_or_none

_SENT = {
    "sent": "sms.sent",
    "delivered": "sms.delivered",
    "undelivered": "sms.failed",
    "failed": "sms.failed",
}


def map_message(out: Collector, params: dict[str, str]) -> None:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    kind = f"message:{status or '?'}"
    sender, recipient = params.get("From", ""), params.get("To", "")
    if sender.startswith("whatsapp:") or recipient.startswith("whatsapp:"):
        _whatsapp(out, params, sid, status)
    elif ":" in sender or ":" in recipient:
        out.skip(kind, "a message on another channel (not SMS, MMS or WhatsApp)")
    elif status == "received":
        _received(out, params, sid)
    elif status in _SENT:
        _status(out, params, sid, status)
    else:
        out.skip(kind, "not a touchpoint yet (queued, sending, accepted or scheduled)")


def _received(out: Collector, params: dict[str, str], sid: str) -> None:
    phone = phone_or_none(params.get("From"))
    media = params.get("NumMedia", "")
    payload = {
        "message_id": sid,
        "from": clip(params.get("From"), 32),
        "to": clip(params.get("To"), 32),
        "text": clip(params.get("Body"), 1600),
        "media_count": int(media) if media.isascii() and media.isdigit() else None,
    }
    at = out.delivery.received_at  # Twilio's messaging webhooks carry no event time
    out.add("sms.received", f"{sid}:received", at, _phone(phone), compact(payload))


def _status(out: Collector, params: dict[str, str], sid: str, status: str) -> None:
    type_ = _SENT[status]
    payload = {
        "message_id": sid,
        "from": clip(params.get("From"), 32),
        "to": clip(params.get("To"), 32),
    }
    if type_ == "sms.failed":
        payload.update(status=status, error_code=clip(params.get("ErrorCode"), 16))
    phone = phone_or_none(params.get("To"))
    out.add(type_, f"{sid}:{status}", out.delivery.received_at, _phone(phone), compact(payload))


def _whatsapp(out: Collector, params: dict[str, str], sid: str, status: str) -> None:
    if status != "received":
        out.skip(f"whatsapp:{status or '?'}", "Touchline has no type for WhatsApp delivery states")
        return
    number = params.get("From", "").removeprefix("whatsapp:")
    payload = {
        "network": "whatsapp",
        "handle": number,
        "message_id": sid,
        "text": clip(params.get("Body"), 8000),
    }
    at = out.delivery.received_at
    out.add(
        "social.dm_received", f"{sid}:received", at, _phone(phone_or_none(number)), compact(payload)
    )


def _phone(phone: str | None) -> dict[str, str]:
    return {"phone": phone} if phone else {}
