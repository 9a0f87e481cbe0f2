"""LINE Messaging API: HMAC-SHA256 of the body; messages, postbacks and (un)follows mapped."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import orjson
import pytest

from services.webhooks.registry import PROVIDERS
from services.webhooks.signatures import SignatureRejected
from tests.unit.webhook_support import assert_accepted_by_intake, delivery, expected_id

LINE = PROVIDERS["line"]
RECEIVED = datetime(2016, 5, 7, 13, 58, tzinfo=UTC)
SECRET = "channel_secret"


def sign(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.digest(secret.encode(), body, "sha256")
    return {"x-line-signature": base64.b64encode(digest).decode()}


# -- signature ---------------------------------------------------------------------------------


def test_the_sdk_vector_verifies() -> None:
    # line/line-bot-sdk-python, tests/v3/test_webhook.py (TestSignatureValidator.test_validate)
    sent = delivery(
        "line",
        b"bodybodybodybody",
        {"X-Line-Signature": "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="},
        RECEIVED,
    )
    LINE.verify(sent, "channel_secret", RECEIVED)


def test_the_sdk_invalid_signature_is_refused() -> None:
    sent = delivery(
        "line", b"bodybodybodybody", {"X-Line-Signature": "invalid_signature"}, RECEIVED
    )
    with pytest.raises(SignatureRejected, match="does not match"):
        LINE.verify(sent, "channel_secret", RECEIVED)


def test_a_tampered_body_or_another_secret_is_refused() -> None:
    body = orjson.dumps({"destination": "U123", "events": EVENTS})
    headers = sign(body)
    LINE.verify(delivery("line", body, headers, RECEIVED), SECRET, RECEIVED)
    with pytest.raises(SignatureRejected):
        LINE.verify(
            delivery("line", body.replace(b"Hello", b"Hullo"), headers, RECEIVED), SECRET, RECEIVED
        )
    with pytest.raises(SignatureRejected):
        LINE.verify(delivery("line", body, headers, RECEIVED), "another secret", RECEIVED)


def test_a_missing_signature_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="missing X-Line-Signature"):
        LINE.verify(delivery("line", b"{}", {}, RECEIVED), SECRET, RECEIVED)


# -- mapping -------------------------------------------------------------------------------------
# Events from line-bot-sdk-python's tests/v3/text/webhook.json. That fixture gives every event the
# webhookEventId "testwebhookeventid"; a real delivery carries one ULID per event, so each event
# here has its own.

USER = "U206d25c2ea6bd87c17655609a1c37cb8"
SOURCE = {"type": "user", "userId": USER}
COMMON = {"mode": "active", "timestamp": 1462629479859, "source": SOURCE,
          "deliveryContext": {"isRedelivery": False}}  # fmt: skip
EVENTS = [
    {**COMMON, "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "type": "message",
     "webhookEventId": "01H0000000000000000000TEXT",
     "message": {"id": "325708", "type": "text", "text": "Hello, world", "quoteToken": "quoteToken"}},
    {**COMMON, "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "type": "message",
     "webhookEventId": "01H00000000000000000STICKER",
     "message": {"id": "325709", "type": "sticker", "packageId": "1", "stickerId": "1",
                 "stickerResourceType": "STATIC", "keywords": ["Love You", "Love"],
                 "text": "Just sticker", "quoteToken": "quoteToken"}},
    {**COMMON, "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "type": "follow",
     "webhookEventId": "01H000000000000000000FOLLOW", "follow": {"isUnblocked": True}},
    {**COMMON, "type": "unfollow", "webhookEventId": "01H0000000000000000UNFOLLOW"},
    {**COMMON, "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "type": "postback",
     "webhookEventId": "01H00000000000000000POSTBACK",
     "postback": {"data": "action=buyItem&itemId=123123&color=red",
                  "params": {"datetime": "2017-12-25T01:00"}}},
    {**COMMON, "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "type": "message",
     "source": {"type": "group", "groupId": "Ca56f94637cc4347f90a25382909b24b9", "userId": USER},
     "webhookEventId": "01H0000000000000000000GROUP",
     "message": {"id": "325710", "type": "text", "text": "Hello, world", "quoteToken": "quoteToken"}},
    {**COMMON, "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "type": "join",
     "source": {"type": "group", "groupId": "Ca56f94637cc4347f90a25382909b24b9"},
     "webhookEventId": "01H00000000000000000000JOIN"},
    {**COMMON, "type": "undefined", "webhookEventId": "01H00000000000000UNDEFINED",
     "deliveryContext": {"isRedelivery": True}, "undefinedField": {"1": 1}},
]  # fmt: skip
BODY = orjson.dumps({"destination": "U123", "events": EVENTS})
AT = "2016-05-07T13:57:59.859Z"


def envelope(type_: str, key: str, payload: dict[str, object]) -> dict[str, object]:
    return {"event_id": expected_id("line", "c1", key, type_), "type": type_, "schema_version": 1,
            "occurred_at": AT, "source": "line", "identities": {"social": f"line:{USER}"},
            "payload": payload}  # fmt: skip


EXPECTED = [
    envelope("social.dm_received", "01H0000000000000000000TEXT",
             {"network": "line", "handle": USER, "message_id": "325708", "text": "Hello, world"}),
    envelope("social.dm_received", "01H00000000000000000STICKER",
             {"network": "line", "handle": USER, "message_id": "325709"}),
    envelope("consent.granted", "01H000000000000000000FOLLOW",
             {"channel": "line", "purpose": "marketing",
              "proof": {"text": "unblocked the LINE official account", "captured_by": "line"}}),
    envelope("consent.withdrawn", "01H0000000000000000UNFOLLOW",
             {"channel": "line", "purpose": "marketing",
              "proof": {"text": "blocked the LINE official account", "captured_by": "line"}}),
    envelope("social.dm_received", "01H00000000000000000POSTBACK",
             {"network": "line", "handle": USER, "text": "action=buyItem&itemId=123123&color=red"}),
]  # fmt: skip


def test_every_mapped_event_type_maps_as_documented() -> None:
    mapped = LINE.map(delivery("line", BODY, sign(BODY), RECEIVED))
    assert list(mapped.envelopes) == EXPECTED
    assert mapped.mapping_version == "line-1"
    assert_accepted_by_intake(mapped.envelopes, RECEIVED)


def test_group_events_and_unknown_types_are_reported_not_raised() -> None:
    mapped = LINE.map(delivery("line", BODY, sign(BODY), RECEIVED))
    assert [u.kind for u in mapped.unmapped] == ["message", "join", "undefined"]
    assert "group" in mapped.unmapped[0].reason


def test_a_new_friend_grants_consent() -> None:
    event = {
        **COMMON,
        "type": "follow",
        "webhookEventId": "01HNEW",
        "follow": {"isUnblocked": False},
    }
    body = orjson.dumps({"destination": "U123", "events": [event]})
    [granted] = LINE.map(delivery("line", body, {}, RECEIVED)).envelopes
    assert granted["payload"]["proof"]["text"] == "added the LINE official account as a friend"


def test_a_redelivery_maps_to_the_same_ids() -> None:
    again = [{**e, "deliveryContext": {"isRedelivery": True}} for e in EVENTS]
    body = orjson.dumps({"destination": "U123", "events": again})
    first = LINE.map(delivery("line", BODY, {}, RECEIVED)).envelopes
    redelivered = LINE.map(delivery("line", body, {}, RECEIVED)).envelopes
    assert [e["event_id"] for e in first] == [e["event_id"] for e in redelivered]
    assert LINE.delivery_id(delivery("line", BODY, {}, RECEIVED)) == LINE.delivery_id(
        delivery("line", BODY, {}, RECEIVED)
    )


@pytest.mark.parametrize(
    ("body", "kind"), [(b"nope", "delivery"), (b"{}", "delivery"), (b'{"events": [1]}', "?")]
)
def test_malformed_bodies_are_unmapped(body: bytes, kind: str) -> None:
    mapped = LINE.map(delivery("line", body, {}, RECEIVED))
    assert mapped.envelopes == () and [u.kind for u in mapped.unmapped] == [kind]


def test_hmac_uses_the_raw_bytes() -> None:
    body = '{"events":[],"destination":"Uあ"}'.encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    LINE.verify(delivery("line", body, {"X-Line-Signature": digest}, RECEIVED), SECRET, RECEIVED)
