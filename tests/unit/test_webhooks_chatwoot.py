"""Chatwoot: sha256= HMAC of "timestamp.body"; messages, conversations and contacts mapped."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from services.webhooks.delivery import RawDelivery
from services.webhooks.registry import PROVIDERS
from services.webhooks.signatures import SignatureRejected
from tests.unit.webhook_support import assert_accepted_by_intake, delivery, expected_id

CHATWOOT = PROVIDERS["chatwoot"]
SECRET = "sGbXFw4yQmc8iPEN6kDnq2aZ"
RECEIVED = datetime(2021, 7, 23, 18, 5, 30, tzinfo=UTC)

# The message_created and conversation_status_changed samples of Chatwoot's "Webhook Events"
# page (chatwoot/docs, docs/product/others/webhook-events.md), abridged where noted.
BROWSER = {"device_name": "Unknown", "browser_name": "Chrome", "platform_name": "macOS",
           "browser_version": "92.0.4515.107", "platform_version": "10.15.7"}  # fmt: skip
ATTRIBUTES = {"browser": BROWSER, "referer": "http://localhost:3000/widget_tests",
              "initiated_at": {"timestamp": "Fri Jul 23 2021 23:32:48 GMT+0530 (India Standard Time)"}}  # fmt: skip
ASSIGNEE = {"id": 1, "name": "John", "available_name": "John", "type": "user",
            "availability_status": "online"}  # fmt: skip
MESSAGE_CREATED: dict[str, Any] = {
    "id": 118, "content": "hi", "created_at": "2021-07-23T18:02:48.000Z",
    "message_type": "incoming", "content_type": "text", "private": False,
    "content_attributes": {}, "source_id": None,
    "sender": {"id": 14, "name": "little-haze-776", "avatar": "", "type": "contact"},
    "inbox": {"id": 1, "name": "Acme Support"},
    "conversation": {
        "additional_attributes": ATTRIBUTES, "can_reply": True, "channel": "Channel::WebWidget",
        "id": 10, "inbox_id": 1,
        "contact_inbox": {"id": 12, "contact_id": 14, "inbox_id": 1,
                          "source_id": "405f1d30-1af3-4fa0-8ffd-11ea3f86101e"},
        "messages": [],  # abridged
        "meta": {"sender": {"additional_attributes": {}, "custom_attributes": {}, "email": None,
                            "id": 14, "identifier": None, "name": "little-haze-776",
                            "phone_number": None, "thumbnail": "", "type": "contact"},
                 "assignee": ASSIGNEE},
        "status": "open", "unread_count": 1, "agent_last_seen_at": 0, "contact_last_seen_at": 0,
        "timestamp": 1627063369,
    },
    "account": {"id": 1, "name": "Acme Inc"},
    "event": "message_created",
}  # fmt: skip
CONVERSATION: dict[str, Any] = {
    "additional_attributes": ATTRIBUTES, "can_reply": True, "channel": "Channel::WebWidget",
    "id": 10, "inbox_id": 1,
    "account_id": 1,  # current releases add it (PushDataHelper#webhook_data); the sample predates it
    "contact_inbox": {"id": 12, "contact_id": 12, "inbox_id": 1,
                      "source_id": "405f1d30-1af3-4fa0-8ffd-11ea3f86101e"},
    "messages": [],  # abridged
    "meta": {"sender": {"additional_attributes": {}, "custom_attributes": {},
                        "email": "jane@acme.inc", "id": 12, "identifier": None, "name": "jane",
                        "phone_number": None, "thumbnail": "", "type": "contact"},
             "assignee": ASSIGNEE},
    "status": "open", "unread_count": 0, "agent_last_seen_at": 1627063451,
    "contact_last_seen_at": 0, "timestamp": 1627063369,
    "event": "conversation_status_changed",
}  # fmt: skip
# conversation_created is the same conversation payload (webhook_listener.rb merges only
# ``event``); contact_created is Contact#webhook_data (app/models/contact.rb) with ``event``.
CREATED = {**CONVERSATION, "event": "conversation_created", "created_at": 1627063308}
RESOLVED = {**CONVERSATION, "status": "resolved", "timestamp": 1627063520}
CONTACT = {"account": {"id": 1, "name": "Acme Inc"}, "additional_attributes": {}, "avatar": "",
           "custom_attributes": {}, "email": "jane@acme.inc", "id": 12, "identifier": "cust-0012",
           "name": "jane", "phone_number": "+14155552671", "thumbnail": "", "blocked": False,
           "event": "contact_created"}  # fmt: skip
OUTGOING = {**MESSAGE_CREATED, "id": 119, "content": "Hello! How can I help?",
            "message_type": "outgoing", "created_at": "2021-07-23T18:03:10.000Z",
            "sender": {"id": 1, "name": "John", "email": "john@acme.inc", "type": "user"}}  # fmt: skip
ANON = {"device_id": "chatwoot:1:14"}
JANE = {"email": "jane@acme.inc", "device_id": "chatwoot:1:12"}


def envelope(
    type_: str,
    key: str,
    at: str,
    identities: dict[str, str],
    payload: dict[str, Any],
    conversation: bool = True,
) -> dict[str, Any]:
    built = {"event_id": expected_id("chatwoot", "c1", key, type_), "type": type_,
             "schema_version": 1, "occurred_at": at, "source": "chatwoot",
             "identities": identities, "payload": payload}  # fmt: skip
    return {**built, "conversation_id": "10"} if conversation else built


EXPECTED = {
    "message_created": envelope("chat.message_received", "message:118", "2021-07-23T18:02:48.000Z",
                                ANON, {"chat_id": "10", "text": "hi"}),
    "outgoing": envelope("chat.message_sent", "message:119", "2021-07-23T18:03:10.000Z", ANON,
                         {"chat_id": "10", "text": "Hello! How can I help?", "agent": "John"}),
    "conversation_created": envelope(
        "chat.started", "conversation:10:created", "2021-07-23T18:01:48.000Z", JANE,
        {"chat_id": "10", "entry_url": "http://localhost:3000/widget_tests"}),
    "resolved": envelope("chat.ended", "conversation:10:resolved:1627063520",
                         "2021-07-23T18:05:20.000Z", JANE, {"chat_id": "10", "resolved": True}),
    "contact_created": envelope(
        "customer.profile_updated", "contact:12:created", "2021-07-23T18:05:30.000Z",
        {**JANE, "phone": "+14155552671", "customer_ref": "cust-0012"},
        {"name": {"display": "jane"}, "emails": ["jane@acme.inc"], "phones": ["+14155552671"]},
        conversation=False),
}  # fmt: skip
CASES = [("message_created", MESSAGE_CREATED), ("outgoing", OUTGOING),
         ("conversation_created", CREATED), ("resolved", RESOLVED),
         ("contact_created", CONTACT)]  # fmt: skip


def signed(payload: dict[str, Any], at: datetime = RECEIVED, secret: str = SECRET) -> RawDelivery:
    body = orjson.dumps(payload)
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Chatwoot-Signature": f"sha256={digest}", "X-Chatwoot-Timestamp": stamp,
               "X-Chatwoot-Delivery": "6f1e0a47-6c2b-4f7e-9a55-3b0f3f4d2f10",
               "Content-Type": "application/json"}  # fmt: skip
    return delivery("chatwoot", body, headers, RECEIVED)


# -- signature ---------------------------------------------------------------------------------


def test_a_signed_delivery_is_accepted() -> None:
    CHATWOOT.verify(signed(MESSAGE_CREATED), SECRET, RECEIVED)


def test_a_tampered_body_or_timestamp_is_refused() -> None:
    good = signed(MESSAGE_CREATED)
    tampered = delivery(
        "chatwoot", good.body.replace(b'"hi"', b'"ho"'), dict(good.headers), RECEIVED
    )
    with pytest.raises(SignatureRejected, match="does not match"):
        CHATWOOT.verify(tampered, SECRET, RECEIVED)
    moved = {**good.headers, "x-chatwoot-timestamp": str(int(RECEIVED.timestamp()) + 1)}
    with pytest.raises(SignatureRejected, match="does not match"):
        CHATWOOT.verify(delivery("chatwoot", good.body, moved, RECEIVED), SECRET, RECEIVED)


@pytest.mark.parametrize("missing", ["x-chatwoot-signature", "x-chatwoot-timestamp"])
def test_an_unsigned_delivery_is_refused(missing: str) -> None:
    good = signed(MESSAGE_CREATED)
    headers = {k: v for k, v in good.headers.items() if k != missing}
    with pytest.raises(SignatureRejected, match="missing"):
        CHATWOOT.verify(delivery("chatwoot", good.body, headers, RECEIVED), SECRET, RECEIVED)


def test_a_stale_delivery_is_refused() -> None:
    old = signed(MESSAGE_CREATED, at=RECEIVED - timedelta(minutes=6))
    with pytest.raises(SignatureRejected, match="stale or replayed"):
        CHATWOOT.verify(old, SECRET, RECEIVED)
    CHATWOOT.verify(signed(MESSAGE_CREATED, at=RECEIVED - timedelta(minutes=4)), SECRET, RECEIVED)


def test_the_delivery_header_names_the_delivery() -> None:
    assert CHATWOOT.delivery_id(signed(CONTACT)) == "6f1e0a47-6c2b-4f7e-9a55-3b0f3f4d2f10"


# -- mapping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload"), CASES, ids=[name for name, _ in CASES])
def test_every_mapped_event_maps_as_documented(name: str, payload: dict[str, Any]) -> None:
    mapped = CHATWOOT.map(signed(payload))
    assert (list(mapped.envelopes), mapped.unmapped) == ([EXPECTED[name]], ())
    assert mapped.mapping_version == "chatwoot-1"
    assert_accepted_by_intake(mapped.envelopes, RECEIVED)


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (CONVERSATION, "conversation_status_changed:open"),
        ({**MESSAGE_CREATED, "private": True}, "message_created"),
        ({**MESSAGE_CREATED, "message_type": "activity", "content": "Conversation was resolved"},
         "message_created"),
        ({**MESSAGE_CREATED, "content": None}, "message_created"),
        ({**CONVERSATION, "event": "conversation_typing_on"}, "conversation_typing_on"),
        ({"event": "webwidget_triggered", "id": 12}, "webwidget_triggered"),
    ],
    ids=["status open", "private note", "activity", "attachments only", "typing", "widget"],
)  # fmt: skip
def test_what_is_not_a_touchpoint_is_reported(payload: dict[str, Any], kind: str) -> None:
    mapped = CHATWOOT.map(signed(payload))
    assert mapped.envelopes == () and [u.kind for u in mapped.unmapped] == [kind]


def test_a_nested_message_type_number_is_understood() -> None:
    [envelope] = CHATWOOT.map(signed({**OUTGOING, "message_type": 1})).envelopes
    assert envelope["type"] == "chat.message_sent"


def test_a_conversation_resolved_twice_ends_twice() -> None:
    first = CHATWOOT.map(signed(RESOLVED)).envelopes[0]["event_id"]
    again = CHATWOOT.map(signed({**RESOLVED, "timestamp": 1627070000})).envelopes[0]["event_id"]
    retry = CHATWOOT.map(signed(RESOLVED, at=RECEIVED + timedelta(minutes=2))).envelopes[0][
        "event_id"
    ]
    assert first != again and first == retry


def test_the_same_delivery_maps_to_the_same_ids() -> None:
    assert CHATWOOT.map(signed(MESSAGE_CREATED)) == CHATWOOT.map(signed(MESSAGE_CREATED))


def test_a_body_that_is_not_json_is_unmapped() -> None:
    mapped = CHATWOOT.map(delivery("chatwoot", b"]", {}, RECEIVED))
    assert mapped.envelopes == () and [u.kind for u in mapped.unmapped] == ["delivery"]
