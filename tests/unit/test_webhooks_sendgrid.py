"""SendGrid Event Webhook: ECDSA signature over timestamp + body, events to email.* and consent."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.webhooks.registry import PROVIDERS
from services.webhooks.signatures import SignatureRejected
from tests.unit.webhook_support import assert_accepted_by_intake, delivery, expected_id

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
SENDGRID = PROVIDERS["sendgrid"]

# The official vector: sendgrid/sendgrid-python, test/unit/test_eventwebhook.py (UnitTests).
SDK_PUBLIC_KEY = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
SDK_SIGNATURE = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
SDK_TIMESTAMP = "1600112502"
SDK_PAYLOAD = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
    b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
    b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
    b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
)
SDK_OTHER_KEY = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA=="
SDK_NOW = datetime.fromtimestamp(1600112502, UTC)

# The "every event type" sample of SendGrid's Event Webhook Reference
# (twilio.com/docs/sendgrid/for-developers/tracking-events/event), plus a machine open and an
# event type Touchline does not know.
MESSAGE = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
COMMON = {"email": "example@test.com", "timestamp": 1631577204,
          "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "category": ["cat facts"],
          "sg_message_id": MESSAGE}  # fmt: skip
UA = "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)"
EVENTS = [
    {**COMMON, "event": "processed", "sg_event_id": "LByNAbjQOn0PqfXwvqg1Aw=="},
    {**COMMON, "event": "deferred", "sg_event_id": "lE8e4z_vcWKwAcsIW6oIYA==",
     "response": "400 try again later", "attempt": "5"},
    {**COMMON, "event": "delivered", "sg_event_id": "rPoZ4mHajV0Try7IXg--Yw==", "response": "250 OK"},
    {**COMMON, "event": "open", "sg_event_id": "_o7lppLso10WRMDfPuqlFQ==", "useragent": UA,
     "ip": "255.255.255.255"},
    {**COMMON, "event": "click", "sg_event_id": "tV-c4nwCoXQaCTmGiPEvIA==", "useragent": UA,
     "ip": "255.255.255.255", "url": "http://www.sendgrid.com/"},
    {**COMMON, "event": "bounce", "sg_event_id": "Q8veIbXiPcpkSH1rCi_8Sw==",
     "reason": "500 unknown recipient", "status": "5.0.0"},
    {**COMMON, "event": "dropped", "sg_event_id": "YLLRhu9oXHKXY6fqdL0r2A==",
     "reason": "Bounced Address", "status": "5.0.0"},
    {**COMMON, "event": "spamreport", "sg_event_id": "uIhZz5hC-AH2bHZpzitUxw=="},
    {**COMMON, "event": "unsubscribe", "sg_event_id": "l0vMnu-FvYjc2EcDXg4SOA=="},
    {**COMMON, "event": "group_unsubscribe", "sg_event_id": "kC3QpKDvQeH4PjAvnQFA_A==",
     "useragent": UA, "ip": "255.255.255.255", "url": "http://www.sendgrid.com/", "asm_group_id": 10},
    {**COMMON, "event": "group_resubscribe", "sg_event_id": "s8baRlfcA4FmfU83dW1Zmg==",
     "useragent": UA, "ip": "255.255.255.255", "url": "http://www.sendgrid.com/", "asm_group_id": 10},
    {**COMMON, "event": "open", "sg_event_id": "machine-open-1", "sg_machine_open": True},
    {**COMMON, "event": "account_status_change", "sg_event_id": "acct-1"},
]  # fmt: skip
BODY = orjson.dumps(EVENTS)
AT = "2021-09-13T23:53:24.000Z"
RECEIVED = datetime(2021, 9, 13, 23, 54, tzinfo=UTC)


def ids(key: str, type_: str) -> str:
    return expected_id("sendgrid", "c1", key, type_)


def email(type_: str, key: str, **payload: object) -> dict[str, object]:
    return {"event_id": ids(key, type_), "type": type_, "schema_version": 1, "occurred_at": AT,
            "source": "sendgrid", "identities": {"email": "example@test.com"},
            "payload": {"message_id": "14c5d75ce93", **payload}}  # fmt: skip


def withdrawn(key: str, proof: dict[str, str]) -> dict[str, object]:
    return {"event_id": ids(key, "consent.withdrawn"), "type": "consent.withdrawn",
            "schema_version": 1, "occurred_at": AT, "source": "sendgrid",
            "identities": {"email": "example@test.com"},
            "payload": {"channel": "email", "purpose": "marketing", "address": "example@test.com",
                        "proof": {"captured_by": "sendgrid", **proof}}}  # fmt: skip


EXPECTED = [
    email("email.sent", "LByNAbjQOn0PqfXwvqg1Aw=="),
    email("email.bounced", "lE8e4z_vcWKwAcsIW6oIYA==", bounce_type="soft",
          reason="deferred: 400 try again later"),
    email("email.delivered", "rPoZ4mHajV0Try7IXg--Yw=="),
    email("email.opened", "_o7lppLso10WRMDfPuqlFQ==", user_agent=UA),
    email("email.clicked", "tV-c4nwCoXQaCTmGiPEvIA==", url="http://www.sendgrid.com/"),
    email("email.bounced", "Q8veIbXiPcpkSH1rCi_8Sw==", bounce_type="hard",
          reason="500 unknown recipient"),
    email("email.bounced", "YLLRhu9oXHKXY6fqdL0r2A==", bounce_type="hard",
          reason="dropped: Bounced Address"),
    withdrawn("uIhZz5hC-AH2bHZpzitUxw==", {"text": "reported an email as spam"}),
    email("email.unsubscribed", "l0vMnu-FvYjc2EcDXg4SOA=="),
    withdrawn("l0vMnu-FvYjc2EcDXg4SOA==", {"text": "unsubscribed from all email"}),
    email("email.unsubscribed", "kC3QpKDvQeH4PjAvnQFA_A==", list_id="10"),
    withdrawn("kC3QpKDvQeH4PjAvnQFA_A==", {"text": "unsubscribed from unsubscribe group 10",
                                           "ip": "255.255.255.255",
                                           "url": "http://www.sendgrid.com/"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_text(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def signed(key: ec.EllipticCurvePrivateKey, body: bytes, at: datetime) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: stamp}


# -- the official vector -----------------------------------------------------------------


def test_the_sdk_vector_verifies() -> None:
    headers = {SIGNATURE: SDK_SIGNATURE, TIMESTAMP: SDK_TIMESTAMP}
    SENDGRID.verify(delivery("sendgrid", SDK_PAYLOAD, headers, SDK_NOW), SDK_PUBLIC_KEY, SDK_NOW)


@pytest.mark.parametrize(
    ("body", "headers", "key", "why"),
    [
        (SDK_PAYLOAD, {SIGNATURE: SDK_SIGNATURE, TIMESTAMP: SDK_TIMESTAMP}, SDK_OTHER_KEY, "match"),
        (b"payload", {SIGNATURE: SDK_SIGNATURE, TIMESTAMP: SDK_TIMESTAMP}, SDK_PUBLIC_KEY, "match"),
        (SDK_PAYLOAD, {SIGNATURE: "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=",
                       TIMESTAMP: SDK_TIMESTAMP}, SDK_PUBLIC_KEY, "match"),
        (SDK_PAYLOAD, {SIGNATURE: SDK_SIGNATURE, TIMESTAMP: "timestamp"}, SDK_PUBLIC_KEY, "Unix time"),
    ],
    ids=["bad key", "bad payload", "bad signature", "bad timestamp"],
)  # fmt: skip
def test_the_sdk_refusals_are_refused(
    body: bytes, headers: dict[str, str], key: str, why: str
) -> None:
    with pytest.raises(SignatureRejected, match=why):
        SENDGRID.verify(delivery("sendgrid", body, headers, SDK_NOW), key, SDK_NOW)


# -- signature: accepted, tampered, missing, stale ------------------------------------------


def test_a_signed_batch_is_accepted(signing_key: ec.EllipticCurvePrivateKey) -> None:
    sent = delivery("sendgrid", BODY, signed(signing_key, BODY, RECEIVED), RECEIVED)
    SENDGRID.verify(sent, public_key_text(signing_key), RECEIVED)


def test_a_tampered_body_is_refused(signing_key: ec.EllipticCurvePrivateKey) -> None:
    headers = signed(signing_key, BODY, RECEIVED)
    tampered = BODY.replace(b"example@test.com", b"attacker@test.com", 1)
    with pytest.raises(SignatureRejected, match="does not match"):
        SENDGRID.verify(
            delivery("sendgrid", tampered, headers, RECEIVED),
            public_key_text(signing_key),
            RECEIVED,
        )


def test_a_replayed_timestamp_cannot_be_refreshed(signing_key: ec.EllipticCurvePrivateKey) -> None:
    headers = signed(signing_key, BODY, RECEIVED)
    headers[TIMESTAMP] = str(int(RECEIVED.timestamp()) + 60)
    with pytest.raises(SignatureRejected, match="does not match"):
        SENDGRID.verify(
            delivery("sendgrid", BODY, headers, RECEIVED), public_key_text(signing_key), RECEIVED
        )


@pytest.mark.parametrize("missing", [SIGNATURE, TIMESTAMP])
def test_a_missing_header_is_refused(signing_key: ec.EllipticCurvePrivateKey, missing: str) -> None:
    headers = signed(signing_key, BODY, RECEIVED)
    del headers[missing]
    with pytest.raises(SignatureRejected, match=f"missing {missing}"):
        SENDGRID.verify(
            delivery("sendgrid", BODY, headers, RECEIVED), public_key_text(signing_key), RECEIVED
        )


@pytest.mark.parametrize("offset", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_a_stale_or_future_timestamp_is_refused(
    signing_key: ec.EllipticCurvePrivateKey, offset: timedelta
) -> None:
    sent = delivery("sendgrid", BODY, signed(signing_key, BODY, RECEIVED), RECEIVED)
    SENDGRID.verify(sent, public_key_text(signing_key), RECEIVED + timedelta(minutes=4))
    with pytest.raises(SignatureRejected, match="stale or replayed"):
        SENDGRID.verify(sent, public_key_text(signing_key), RECEIVED + offset)


def test_header_names_are_case_insensitive(signing_key: ec.EllipticCurvePrivateKey) -> None:
    headers = {name.lower(): value for name, value in signed(signing_key, BODY, RECEIVED).items()}
    SENDGRID.verify(
        delivery("sendgrid", BODY, headers, RECEIVED), public_key_text(signing_key), RECEIVED
    )


def test_a_key_that_is_not_p256_is_refused_when_the_connector_is_added() -> None:
    with pytest.raises(ValueError, match="base64 DER"):
        SENDGRID.check_secret("not a key")
    SENDGRID.check_secret(SDK_PUBLIC_KEY)


# -- mapping --------------------------------------------------------------------------------


def test_every_event_type_maps_as_documented() -> None:
    mapped = SENDGRID.map(delivery("sendgrid", BODY, {}, RECEIVED))
    assert list(mapped.envelopes) == EXPECTED
    assert mapped.mapping_version == "sendgrid-1"
    assert_accepted_by_intake(mapped.envelopes, RECEIVED)


def test_what_is_not_a_touchpoint_is_reported_not_raised() -> None:
    mapped = SENDGRID.map(delivery("sendgrid", BODY, {}, RECEIVED))
    assert [(u.kind, u.reason.split(" ")[0]) for u in mapped.unmapped] == [
        ("group_resubscribe", "rejoining"),
        ("open", "a"),
        ("account_status_change", "not"),
    ]


def test_the_same_delivery_maps_to_the_same_ids() -> None:
    first = SENDGRID.map(delivery("sendgrid", BODY, {}, RECEIVED))
    again = SENDGRID.map(delivery("sendgrid", BODY, {}, RECEIVED + timedelta(hours=3)))
    assert [e["event_id"] for e in first.envelopes] == [e["event_id"] for e in again.envelopes]
    assert first.envelopes == again.envelopes  # event time comes from SendGrid, not arrival


def test_another_connector_gives_other_ids() -> None:
    theirs = SENDGRID.map(delivery("sendgrid", BODY, {}, RECEIVED, connector_id="c2"))
    assert theirs.envelopes[0]["event_id"] == expected_id(
        "sendgrid", "c2", "LByNAbjQOn0PqfXwvqg1Aw==", "email.sent"
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"not json", "delivery"), (b'{"event": "open"}', "delivery"), (b"[1]", "?"),
     (b'[{"event": "open", "email": "x@example.com"}]', "open")],
)  # fmt: skip
def test_malformed_bodies_are_unmapped(body: bytes, kind: str) -> None:
    mapped = SENDGRID.map(delivery("sendgrid", body, {}, RECEIVED))
    assert mapped.envelopes == () and [u.kind for u in mapped.unmapped] == [kind]


def test_a_blocked_bounce_is_soft() -> None:
    event = {**COMMON, "event": "bounce", "sg_event_id": "b2", "type": "blocked",
             "reason": "550 blocked by policy"}  # fmt: skip
    [envelope] = SENDGRID.map(delivery("sendgrid", orjson.dumps([event]), {}, RECEIVED)).envelopes
    assert envelope["payload"]["bounce_type"] == "soft"


def test_a_click_on_a_link_that_is_not_http_is_unmapped_not_sent_to_intake() -> None:
    event = {**COMMON, "event": "click", "sg_event_id": "k2", "url": "mailto:a@example.com"}
    mapped = SENDGRID.map(delivery("sendgrid", orjson.dumps([event]), {}, RECEIVED))
    assert mapped.envelopes == ()
    assert [u.kind for u in mapped.unmapped] == ["email.clicked"]
    assert "/payload/url" in mapped.unmapped[0].reason
    assert "mailto" not in mapped.unmapped[0].reason  # the reason is kept: it quotes no values


def test_the_delivery_id_is_the_same_for_a_retry() -> None:
    first = delivery("sendgrid", BODY, {}, RECEIVED)
    retry = delivery("sendgrid", BODY, {}, RECEIVED + timedelta(minutes=10))
    assert SENDGRID.delivery_id(first) == SENDGRID.delivery_id(retry)
    assert SENDGRID.delivery_id(first) != SENDGRID.delivery_id(
        delivery("sendgrid", b"[]", {}, RECEIVED)
    )
