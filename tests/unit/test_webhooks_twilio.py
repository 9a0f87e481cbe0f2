"""Twilio: RequestValidator's HMAC-SHA1 over URL + sorted parameters; calls and messages mapped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from services.webhooks.delivery import RawDelivery
from services.webhooks.registry import PROVIDERS
from services.webhooks.signatures import SignatureRejected
from services.webhooks.twilio import signature
from tests.unit.webhook_support import assert_accepted_by_intake, delivery, expected_id

TWILIO = PROVIDERS["twilio"]
RECEIVED = datetime(2026, 11, 24, 9, 16, 30, tzinfo=UTC)

# The official vectors: twilio/twilio-python, tests/unit/test_request_validator.py (ValidationTest).
SDK_TOKEN = "12345"
SDK_URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
SDK_PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
              "To": "+18005551212", "Caller": "+14158675309"}  # fmt: skip
SDK_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
SDK_JSON_BODY = b'{"property": "value", "boolean": true}'
SDK_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def sdk_delivery(url: str, body: bytes, sig: str) -> RawDelivery:
    return delivery("twilio", body, {"X-Twilio-Signature": sig}, RECEIVED, url=url)


def form(params: dict[str, str] | list[tuple[str, str]]) -> bytes:
    return urlencode(params).encode()


def test_compute_signature() -> None:
    assert signature(SDK_URI, SDK_PARAMS.items(), SDK_TOKEN) == SDK_EXPECTED


def test_compute_signature_with_a_repeated_parameter() -> None:
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert signature(SDK_URI, params, SDK_TOKEN) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (SDK_URI, SDK_EXPECTED),  # test_validation
        (SDK_URI.replace(".com", ".com:1234"), SDK_EXPECTED),  # removes port on https
        (SDK_URI.replace(".com", ".com:1234").replace("https", "http"),
         "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),  # http with port 1234: signed with the port
        (SDK_URI, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # adds port 443 on https
        (SDK_URI.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # adds port 80
    ],
)  # fmt: skip
def test_the_sdk_validation_vectors(url: str, expected: str) -> None:
    TWILIO.verify(sdk_delivery(url, form(SDK_PARAMS), expected), SDK_TOKEN, RECEIVED)


def test_validation_of_a_json_body_by_its_hash() -> None:
    url = f"{SDK_URI}&bodySHA256={SDK_BODY_HASH}"
    sent = sdk_delivery(url, SDK_JSON_BODY, "a9nBmqA0ju/hNViExpshrM61xv4=")
    TWILIO.verify(sent, SDK_TOKEN, RECEIVED)
    assert [u.kind for u in TWILIO.map(sent).unmapped] == ["json"]
    tampered = sdk_delivery(
        url, SDK_JSON_BODY.replace(b"value", b"other"), "a9nBmqA0ju/hNViExpshrM61xv4="
    )
    with pytest.raises(SignatureRejected, match="bodySHA256"):
        TWILIO.verify(tampered, SDK_TOKEN, RECEIVED)


def test_a_tampered_parameter_is_refused() -> None:
    params = {**SDK_PARAMS, "Digits": "9999"}
    with pytest.raises(SignatureRejected, match="does not match"):
        TWILIO.verify(sdk_delivery(SDK_URI, form(params), SDK_EXPECTED), SDK_TOKEN, RECEIVED)


def test_an_added_parameter_is_refused() -> None:
    params = {**SDK_PARAMS, "CallStatus": "completed"}
    with pytest.raises(SignatureRejected, match="does not match"):
        TWILIO.verify(sdk_delivery(SDK_URI, form(params), SDK_EXPECTED), SDK_TOKEN, RECEIVED)


def test_another_url_is_refused() -> None:
    url = SDK_URI.replace("foo=1", "foo=2")
    with pytest.raises(SignatureRejected, match="does not match"):
        TWILIO.verify(sdk_delivery(url, form(SDK_PARAMS), SDK_EXPECTED), SDK_TOKEN, RECEIVED)


def test_a_missing_signature_is_refused() -> None:
    sent = delivery("twilio", form(SDK_PARAMS), {}, RECEIVED, url=SDK_URI)
    with pytest.raises(SignatureRejected, match="missing X-Twilio-Signature"):
        TWILIO.verify(sent, SDK_TOKEN, RECEIVED)


def test_empty_parameters_are_signed_too() -> None:
    params = {**SDK_PARAMS, "ForwardedFrom": ""}
    sig = signature(SDK_URI, params.items(), SDK_TOKEN)
    assert sig != SDK_EXPECTED
    TWILIO.verify(sdk_delivery(SDK_URI, form(params), sig), SDK_TOKEN, RECEIVED)


# -- voice status callbacks (parameters as twilio.com/docs/usage/webhooks/voice-webhooks lists)

URL = "https://hooks.example.com/v1/webhooks/twilio/c1"
CUSTOMER, OURS = "+14155552671", "+14155550100"


def call(status: str, direction: str = "inbound", **extra: str) -> dict[str, str]:
    customer_from = direction == "inbound"
    return {
        "AccountSid": "AC00000000000000000000000000000001", "ApiVersion": "2010-04-01",
        "CallSid": "CA11111111111111111111111111111111", "CallStatus": status,
        "Direction": direction, "From": CUSTOMER if customer_from else OURS,
        "To": OURS if customer_from else CUSTOMER, "Caller": CUSTOMER if customer_from else OURS,
        "Called": OURS if customer_from else CUSTOMER, "CallbackSource": "call-progress-events",
        "SequenceNumber": "2", "Timestamp": "Tue, 24 Nov 2026 09:15:00 +0000", "FromCountry": "US",
        "ToCountry": "US", "ForwardedFrom": "", **extra,
    }  # fmt: skip


def mapped(params: dict[str, str]) -> tuple[list[dict[str, object]], list[tuple[str, str]]]:
    result = TWILIO.map(delivery("twilio", form(params), {}, RECEIVED, url=URL))
    return list(result.envelopes), [(u.kind, u.reason) for u in result.unmapped]


def call_envelope(type_: str, status: str, payload: dict[str, object]) -> dict[str, object]:
    key = f"CA11111111111111111111111111111111:{status}"
    return {"event_id": expected_id("twilio", "c1", key, type_), "type": type_,
            "schema_version": 2 if type_ == "call.completed" else 1,
            "occurred_at": "2026-11-24T09:15:00.000Z", "source": "twilio",
            "identities": {"phone": CUSTOMER},
            "payload": {"call_id": "CA11111111111111111111111111111111", **payload}}  # fmt: skip


RECORDING = {"RecordingSid": "RE22222222222222222222222222222222",
             "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Recordings/RE22222222222222222222222222222222",
             "RecordingDuration": "170"}  # fmt: skip
CALLS = [
    (call("in-progress"), call_envelope("call.started", "in-progress", {"direction": "inbound"})),
    (call("completed", CallDuration="252", Duration="5"),
     call_envelope("call.completed", "completed", {"direction": "inbound", "duration_s": 252})),
    (call("completed", "outbound-api", CallDuration="175", **RECORDING),
     call_envelope("call.completed", "completed", {
         "direction": "outbound", "duration_s": 175,
         "recording": {"recording_id": RECORDING["RecordingSid"], "url": RECORDING["RecordingUrl"],
                       "duration_s": 170}})),
    (call("no-answer", "outbound-api"), call_envelope("call.missed", "no-answer", {"direction": "outbound"})),
    (call("busy"), call_envelope("call.missed", "busy", {"direction": "inbound"})),
    (call("canceled"), call_envelope("call.missed", "canceled", {"direction": "inbound"})),
]  # fmt: skip


@pytest.mark.parametrize(("params", "expected"), CALLS, ids=[p["CallStatus"] for p, _ in CALLS])
def test_call_status_callbacks_map_as_documented(
    params: dict[str, str], expected: dict[str, object]
) -> None:
    envelopes, unmapped = mapped(params)
    assert (envelopes, unmapped) == ([expected], [])
    assert_accepted_by_intake(envelopes, RECEIVED)


def test_a_signed_call_callback_is_accepted_and_mapped() -> None:
    params = call("completed", CallDuration="252")
    sig = signature(URL, params.items(), "auth-token")
    sent = delivery("twilio", form(params), {"X-Twilio-Signature": sig}, RECEIVED, url=URL)
    TWILIO.verify(sent, "auth-token", RECEIVED)
    assert [e["type"] for e in TWILIO.map(sent).envelopes] == ["call.completed"]


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        (call("ringing"), "call:ringing"),
        (call("initiated", "outbound-api"), "call:initiated"),
        (call("failed", "outbound-api"), "call:failed"),
        (call("completed", "outbound-dial", CallDuration="10"), "call:completed"),
        (call("completed", From="client:alice", CallDuration="10"), "call:completed"),
        (call("completed", "sideways", CallDuration="10"), "call:completed"),
        ({"AccountSid": "AC1", "CallSid": "CA1", "RecordingSid": "RE1",
          "RecordingStatus": "completed", "RecordingUrl": "https://api.twilio.com/RE1"}, "recording"),
        ({"AccountSid": "AC1", "Digits": "1"}, "delivery"),
    ],
    ids=["ringing", "initiated", "failed", "dialled leg", "client caller", "unknown direction",
         "recording callback", "unknown callback"],
)  # fmt: skip
def test_what_is_not_a_call_touchpoint_is_reported(params: dict[str, str], kind: str) -> None:
    envelopes, unmapped = mapped(params)
    assert envelopes == [] and [k for k, _ in unmapped] == [kind]


def test_without_a_timestamp_the_arrival_time_is_used() -> None:
    params = call("in-progress")
    del params["Timestamp"]
    [envelope], _ = mapped(params)
    assert envelope["occurred_at"] == "2026-11-24T09:16:30.000Z"


def test_the_same_callback_maps_to_the_same_ids_and_each_status_to_its_own() -> None:
    first, _ = mapped(call("completed", CallDuration="252"))
    again, _ = mapped(call("completed", CallDuration="252"))
    started, _ = mapped(call("in-progress"))
    assert first == again
    assert first[0]["event_id"] != started[0]["event_id"]


def test_the_idempotency_token_names_the_delivery() -> None:
    body = form(call("in-progress"))
    sent = delivery("twilio", body, {"I-Twilio-Idempotency-Token": "tok-1"}, RECEIVED, url=URL)
    assert TWILIO.delivery_id(sent) == "tok-1"
    assert TWILIO.delivery_id(delivery("twilio", body, {}, RECEIVED, url=URL)).startswith("sha256:")


# -- messaging (twilio.com/docs/messaging/guides/webhook-request) --------------------------------

SID = "SM33333333333333333333333333333333"


def message(status: str, inbound: bool, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC00000000000000000000000000000001", "ApiVersion": "2010-04-01",
        "MessageSid": SID, "SmsSid": SID, "SmsStatus": status,
        **({} if inbound else {"MessageStatus": status}),
        "From": CUSTOMER if inbound else OURS, "To": OURS if inbound else CUSTOMER, **extra,
    }  # fmt: skip


def sms(type_: str, status: str, payload: dict[str, object]) -> dict[str, object]:
    return {"event_id": expected_id("twilio", "c1", f"{SID}:{status}", type_), "type": type_,
            "schema_version": 1, "occurred_at": "2026-11-24T09:16:30.000Z", "source": "twilio",
            "identities": {"phone": CUSTOMER}, "payload": {"message_id": SID, **payload}}  # fmt: skip


MESSAGES = [
    (message("received", True, Body="Is my order ready?", NumMedia="0", NumSegments="1",
             MessagingServiceSid="MG1", FromCity="SAN FRANCISCO"),
     sms("sms.received", "received", {"from": CUSTOMER, "to": OURS, "text": "Is my order ready?",
                                      "media_count": 0})),
    (message("sent", False), sms("sms.sent", "sent", {"from": OURS, "to": CUSTOMER})),
    (message("delivered", False, RawDlrDoneDate="2611240916"),
     sms("sms.delivered", "delivered", {"from": OURS, "to": CUSTOMER})),
    (message("undelivered", False, ErrorCode="30003"),
     sms("sms.failed", "undelivered", {"from": OURS, "to": CUSTOMER, "status": "undelivered",
                                       "error_code": "30003"})),
    (message("failed", False, ErrorCode="30008"),
     sms("sms.failed", "failed", {"from": OURS, "to": CUSTOMER, "status": "failed",
                                  "error_code": "30008"})),
    (message("received", True, Body="Hola", From=f"whatsapp:{CUSTOMER}", To=f"whatsapp:{OURS}"),
     {**sms("social.dm_received", "received", {}),
      "payload": {"network": "whatsapp", "handle": CUSTOMER, "message_id": SID, "text": "Hola"}}),
]  # fmt: skip


@pytest.mark.parametrize(("params", "expected"), MESSAGES, ids=["received", "sent", "delivered",
                         "undelivered", "failed", "whatsapp"])  # fmt: skip
def test_messages_map_as_documented(params: dict[str, str], expected: dict[str, object]) -> None:
    envelopes, unmapped = mapped(params)
    assert (envelopes, unmapped) == ([expected], [])
    assert_accepted_by_intake(envelopes, RECEIVED)


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        (message("queued", False), "message:queued"),
        (message("read", False, From=f"whatsapp:{OURS}", To=f"whatsapp:{CUSTOMER}"), "whatsapp:read"),
        (message("received", True, From="messenger:123", Body="hi"), "message:received"),
        (message("received", True, From="72345", Body="STOP"), "sms.received"),  # a short code
    ],
)  # fmt: skip
def test_what_is_not_an_sms_touchpoint_is_reported(params: dict[str, str], kind: str) -> None:
    envelopes, unmapped = mapped(params)
    assert envelopes == [] and [k for k, _ in unmapped] == [kind]


def test_a_picture_message_without_text_still_maps() -> None:
    [envelope], _ = mapped(message("received", True, Body="", NumMedia="2"))
    assert envelope["payload"] == {"message_id": SID, "from": CUSTOMER, "to": OURS,
                                   "media_count": 2}  # fmt: skip


def test_a_body_that_is_not_utf8_is_refused_and_unmapped() -> None:
    sent = delivery("twilio", b"Body=\xff", {"X-Twilio-Signature": "x"}, RECEIVED, url=URL)
    with pytest.raises(SignatureRejected, match="UTF-8"):
        TWILIO.verify(sent, "auth-token", RECEIVED)
    assert [u.kind for u in TWILIO.map(sent).unmapped] == ["delivery"]


def test_the_arrival_time_is_the_stored_one_so_a_replay_keeps_it() -> None:
    body = form(message("sent", False))
    later = delivery("twilio", body, {}, RECEIVED + timedelta(days=1), url=URL)
    first = delivery("twilio", body, {}, RECEIVED, url=URL)
    assert TWILIO.map(first).envelopes[0]["event_id"] == TWILIO.map(later).envelopes[0]["event_id"]
