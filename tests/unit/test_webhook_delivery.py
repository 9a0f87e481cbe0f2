"""The raw delivery record: header lookup, a byte-exact stored form, and replays that map alike."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from services.webhooks.delivery import Headers, RawDelivery, body_digest
from services.webhooks.registry import PROVIDERS

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_headers_are_found_whatever_their_case() -> None:
    headers = Headers([("X-Shopify-Topic", "orders/paid"), ("content-type", "application/json")])
    assert headers["x-shopify-topic"] == headers.get("X-SHOPIFY-TOPIC") == "orders/paid"
    assert headers.get("Missing") is None and len(headers) == 2
    assert headers == Headers(
        {"x-shopify-topic": "orders/paid", "Content-Type": "application/json"}
    )


def test_a_delivery_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        RawDelivery("line", "c1", "https://h/", Headers(), b"", datetime(2026, 1, 1))


def test_the_stored_record_gives_back_the_same_bytes() -> None:
    delivery = RawDelivery(
        "twilio",
        "c1",
        "https://h/v1/webhooks/twilio/c1?x=1",
        Headers({"X-Twilio-Signature": "abc="}),
        b"\x00\xffBody=caf%C3%A9",
        AT,
    )
    record = orjson.loads(orjson.dumps(delivery.as_record()))
    again = RawDelivery.from_record(record)
    assert again == delivery and again.body == delivery.body
    assert body_digest(again) == body_digest(delivery)


def test_a_replayed_delivery_maps_to_the_same_envelopes() -> None:
    events = [{"email": "a@example.com", "timestamp": 1700000000, "event": "delivered",
               "sg_event_id": "ev-1", "sg_message_id": "m1.filter"}]  # fmt: skip
    delivery = RawDelivery("sendgrid", "c1", "https://h/", Headers(), orjson.dumps(events), AT)
    replayed = RawDelivery.from_record(orjson.loads(orjson.dumps(delivery.as_record())))
    provider = PROVIDERS["sendgrid"]
    assert provider.map(replayed) == provider.map(delivery)
    assert len(provider.map(delivery).envelopes) == 1


def test_every_provider_is_registered_with_a_mapping_version() -> None:
    assert {name: p.mapping_version for name, p in PROVIDERS.items()} == {
        "sendgrid": "sendgrid-1", "twilio": "twilio-1", "line": "line-1",
        "shopify": "shopify-1", "chatwoot": "chatwoot-1",
    }  # fmt: skip
    assert not any(p.receiver_sets_secret for p in PROVIDERS.values())
