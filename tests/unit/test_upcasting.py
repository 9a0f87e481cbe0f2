"""Old versions are read as the latest; the bytes in the log stay as written."""

from __future__ import annotations

import orjson

from events.touchpoint import decode_touchpoint
from events.upcasting import purchase_completed_v1_to_v2


def test_v1_purchase_becomes_v2() -> None:
    v1 = {"order_id": "o-1", "total": 19.9, "currency": "USD"}
    assert purchase_completed_v1_to_v2(v1) == {
        "order_id": "o-1",
        "amount": "19.90",
        "currency": "USD",
        "items": [],
        "channel": "online",
    }


def test_zero_decimal_currencies_and_store_orders() -> None:
    v1 = {"order_id": "o-2", "total": 12800, "currency": "JPY", "store_id": "shibuya"}
    v2 = purchase_completed_v1_to_v2(v1)
    assert (v2["amount"], v2["channel"], v2["store_id"]) == ("12800", "store", "shibuya")


def test_decoding_upcasts_and_keeps_the_written_version() -> None:
    logged = {
        "event_id": "e",
        "tenant": "t",
        "type": "purchase.completed",
        "schema_version": 1,
        "occurred_at": "2026-11-20T03:00:00.000Z",
        "received_at": "2026-11-20T03:00:01.000Z",
        "channel": "web",
        "source": "shop",
        "identities": {"email": "a@b.co"},
        "payload": {"order_id": "o", "total": 5, "currency": "EUR"},
    }
    touchpoint = decode_touchpoint(orjson.dumps(logged))
    assert touchpoint.schema_version == 2 and touchpoint.written_version == 1
    assert touchpoint.payload["amount"] == "5.00"
    assert touchpoint.as_dict()["schema_version"] == 2
