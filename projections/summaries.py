"""One short English line per touchpoint, for the agent's timeline (``touchpoints.summary``).

Long because it is one writer per event type, kept together so that a new
type's line is written beside the others'.

The line is written once, when the touchpoint is projected, so the timeline
query reads a column instead of interpreting 23 payload shapes per row; the
payload stays beside it for anything the line leaves out. Summaries read the
payload at the type's latest schema version (``touchpoints.resolved`` carries
it upcast) but never fail on a missing or odd field: an unknown type, or a
payload a summarizer cannot read, gives the type itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

Payload = Mapping[str, Any]
QUOTE_CHARS = 60
NETWORKS = {
    "x": "X",
    "instagram": "Instagram",
    "facebook": "Facebook",
    "line": "LINE",
    "tiktok": "TikTok",
    "linkedin": "LinkedIn",
    "whatsapp": "WhatsApp",
}


def summarize(type_: str, payload: Payload) -> str:
    """The line for one touchpoint; ``type_`` itself when nothing better can be said."""
    writer = _WRITERS.get(type_)
    if writer is None:
        return type_
    try:
        return writer(payload)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation):
        return type_  # a payload older or odder than its schema: the type is still true


# -- pieces ------------------------------------------------------------------


def duration(seconds: Any) -> str:
    """``45 s``, ``4 min 12 s``, ``1 h 5 min``: what a person reads at a glance."""
    total = round(float(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, rest = divmod(total, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(total, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"


def quoted(text: Any, limit: int = QUOTE_CHARS) -> str:
    """Free text on one line, cut at ``limit`` characters, in single quotes."""
    flat = " ".join(str(text).split())
    return f"'{flat[: limit - 1]}…'" if len(flat) > limit else f"'{flat}'"


def money(amount: Any, currency: Any) -> str:
    """``12,800 JPY``: the decimal string as written, with thousands separators."""
    return f"{Decimal(str(amount)):,} {currency}".strip()


def _by_agent(p: Payload) -> str:
    return f" by agent {p['agent']}" if p.get("agent") else ""


def _email(p: Payload) -> str:
    name = p.get("campaign_name") or p.get("subject")
    return f"email {quoted(name)}" if name else "an email"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _network(p: Payload) -> str:
    network = str(p.get("network", ""))
    return NETWORKS.get(network, network)


def _handle(p: Payload) -> str:
    return "@" + str(p["handle"]).lstrip("@")


def _with_text(line: str, p: Payload, key: str = "text") -> str:
    return f"{line}: {quoted(p[key])}" if p.get(key) else line


# -- phone ---------------------------------------------------------------------


def _call_started(p: Payload) -> str:
    line = "Inbound call started" if p.get("direction") == "inbound" else "Outbound call started"
    if p.get("agent"):
        line += f", agent {p['agent']}"
    return line + (f", queue {p['queue']}" if p.get("queue") else "")


def _call_completed(p: Payload) -> str:
    line = "Called in" if p.get("direction") == "inbound" else "Called out"
    line += f", {duration(p['duration_s'])}"
    disposition = str(p.get("disposition", "")).replace("_", " ")
    if disposition == "unresolved":
        return line + ", unresolved" + (f", agent {p['agent']}" if p.get("agent") else "")
    return line + (f", {disposition}{_by_agent(p)}" if disposition else "")


def _call_missed(p: Payload) -> str:
    line = "Missed outbound call" if p.get("direction") == "outbound" else "Missed call"
    return line + (f", waited {duration(p['wait_s'])}" if p.get("wait_s") is not None else "")


def _voicemail_left(p: Payload) -> str:
    return _with_text(f"Left a voicemail, {duration(p['duration_s'])}", p, "transcript")


# -- sms -----------------------------------------------------------------------


def _sms_received(p: Payload) -> str:
    media = int(p.get("media_count") or 0)
    line = "Texted in" + (f" with {media} attachment{'s' if media != 1 else ''}" if media else "")
    return _with_text(line, p)


def _sms_failed(p: Payload) -> str:
    line = "Text not delivered"
    return line + (f" (error {p['error_code']})" if p.get("error_code") else "")


# -- chat ----------------------------------------------------------------------


def _chat_started(p: Payload) -> str:
    return f"Started a chat about {quoted(p['topic'])}" if p.get("topic") else "Started a chat"


def _chat_message_received(p: Payload) -> str:
    return f"Wrote in chat: {quoted(p['text'])}"


def _chat_message_sent(p: Payload) -> str:
    who = f"Agent {p['agent']}" if p.get("agent") else "Agent"
    return f"{who} replied in chat: {quoted(p['text'])}"


def _chat_ended(p: Payload) -> str:
    parts = ["Chat ended"]
    if p.get("duration_s") is not None:
        parts[0] += f" after {duration(p['duration_s'])}"
    if p.get("resolved") is not None:
        parts.append("resolved" if p["resolved"] else "unresolved")
    if p.get("csat") is not None:
        parts.append(f"CSAT {p['csat']}")
    return ", ".join(parts)


# -- email ---------------------------------------------------------------------


def _email_bounced(p: Payload) -> str:
    why = f"{p['bounce_type']}: {p['reason']}" if p.get("reason") else p["bounce_type"]
    return f"{_capital(_email(p))} bounced ({why})"


def _email_clicked(p: Payload) -> str:
    url = str(p["url"]).removeprefix("https://").removeprefix("http://")
    return f"Clicked {url} in {_email(p)}"


def _email_unsubscribed(p: Payload) -> str:
    email = _email(p)
    return f"Unsubscribed from {email}" if email != "an email" else "Unsubscribed from email"


def _email_replied(p: Payload) -> str:
    return _with_text(f"Replied to {_email(p)}", p)


def _email_line(verb: str) -> Callable[[Payload], str]:
    return lambda p: f"{verb} {_email(p)}"


def _email_delivered(p: Payload) -> str:
    return f"{_capital(_email(p))} delivered"


# -- store and web ---------------------------------------------------------------


def _purchase_completed(p: Payload) -> str:
    items = sum(int(item.get("quantity", 1)) for item in p.get("items") or [])
    amount = p["amount"] if "amount" in p else p["total"]  # v1 if it ever arrives un-upcast
    line = "Bought " + (f"{items} item{'s' if items != 1 else ''}, " if items else "")
    return line + money(amount, p.get("currency", "")) + _where(p)


def _purchase_refunded(p: Payload) -> str:
    line = f"Refunded {money(p['amount'], p.get('currency', ''))}{_where(p)}"
    return line + (f" ({p['reason']})" if p.get("reason") else "")


def _where(p: Payload) -> str:
    if p.get("store_id"):
        return f" at {p['store_id']}"
    return " online" if p.get("channel") == "online" else ""


def _store_visited(p: Payload) -> str:
    line = f"Visited store {p.get('store_name') or p['store_id']}"
    return line + (f", {duration(p['duration_s'])}" if p.get("duration_s") is not None else "")


def _web_page_viewed(p: Payload) -> str:
    page = str(p["url"]).removeprefix("https://").removeprefix("http://")
    return f"Viewed {quoted(p['title'])} ({page})" if p.get("title") else f"Viewed {page}"


def _form_submitted(p: Payload) -> str:
    line = f"Submitted form {p['form_id']}"
    topic = (p.get("fields") or {}).get("topic")
    return line + (f" about {quoted(topic)}" if topic else "")


# -- social ----------------------------------------------------------------------


def _social_dm_received(p: Payload) -> str:
    return _with_text(f"DM on {_network(p)} from {_handle(p)}", p)


def _social_dm_sent(p: Payload) -> str:
    who = f"Agent {p['agent']}" if p.get("agent") else "Agent"
    return _with_text(f"{who} replied on {_network(p)} to {_handle(p)}", p)


def _social_mentioned(p: Payload) -> str:
    line = f"Mentioned us on {_network(p)} as {_handle(p)}"
    line += f" ({p['sentiment']})" if p.get("sentiment") else ""
    return _with_text(line, p)


# -- the customer record -----------------------------------------------------------

_PROFILE_FIELDS = {
    "name": "name",
    "emails": "email",
    "phones": "phone",
    "address": "address",
    "birthday": "birthday",
    "company": "company",
    "preferred_language": "language",
    "attributes": "attributes",
}
_CONSENT_CHANNELS = {
    "email": "email",
    "sms": "SMS",
    "phone": "phone",
    "post": "post",
    "line": "LINE",
    "push": "push notifications",
    "web": "the web",
}


def _profile_updated(p: Payload) -> str:
    """Which fields changed, never their values: the line is shown to every role."""
    fields = [label for name, label in _PROFILE_FIELDS.items() if name in p]
    return "Profile updated: " + ", ".join(fields) if fields else "Profile updated"


def _consent(verb: str) -> Callable[[Payload], str]:
    def line(p: Payload) -> str:
        channel = _CONSENT_CHANNELS.get(str(p["channel"]), str(p["channel"]))
        return f"{verb} {p['purpose']} by {channel}"

    return line


_WRITERS: dict[str, Callable[[Payload], str]] = {
    "customer.profile_updated": _profile_updated,
    "consent.granted": _consent("Consented to"),
    "consent.withdrawn": _consent("Withdrew consent to"),
    "call.started": _call_started,
    "call.completed": _call_completed,
    "call.missed": _call_missed,
    "voicemail.left": _voicemail_left,
    "sms.received": _sms_received,
    "sms.sent": lambda p: _with_text("Text sent", p),
    "sms.delivered": lambda p: "Text delivered",
    "sms.failed": _sms_failed,
    "chat.started": _chat_started,
    "chat.message_received": _chat_message_received,
    "chat.message_sent": _chat_message_sent,
    "chat.ended": _chat_ended,
    "email.sent": _email_line("Sent"),
    "email.delivered": _email_delivered,
    "email.opened": _email_line("Opened"),
    "email.clicked": _email_clicked,
    "email.bounced": _email_bounced,
    "email.replied": _email_replied,
    "email.unsubscribed": _email_unsubscribed,
    "form.submitted": _form_submitted,
    "purchase.completed": _purchase_completed,
    "purchase.refunded": _purchase_refunded,
    "store.visited": _store_visited,
    "web.page_viewed": _web_page_viewed,
    "social.dm_received": _social_dm_received,
    "social.dm_sent": _social_dm_sent,
    "social.mentioned": _social_mentioned,
}
