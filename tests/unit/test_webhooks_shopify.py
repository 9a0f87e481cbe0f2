"""Shopify: HMAC-SHA256 of the body; orders to purchase.completed / purchase.refunded by order id."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from services.webhooks.delivery import RawDelivery
from services.webhooks.registry import PROVIDERS
from services.webhooks.signatures import SignatureRejected
from tests.unit.webhook_support import assert_accepted_by_intake, delivery, expected_id

SHOPIFY = PROVIDERS["shopify"]
SECRET = "shpss_0123456789abcdef"
RECEIVED = datetime(2022, 1, 1, 0, 5, tzinfo=UTC)


def money(amount: str) -> dict[str, Any]:
    return {"shop_money": {"amount": amount, "currency_code": "USD"},
            "presentment_money": {"amount": amount, "currency_code": "USD"}}  # fmt: skip


def line(id_: int, name: str, sku: str, price: str) -> dict[str, Any]:
    return {"id": id_, "name": name, "title": name, "price": price, "price_set": money(price),
            "quantity": 1, "current_quantity": 1, "sku": sku, "variant_id": None,
            "product_exists": True, "requires_shipping": True, "taxable": True,
            "total_discount": "0.00", "gift_card": False, "grams": 100}  # fmt: skip


# The orders/paid sample of Shopify's webhook reference (shopify.dev/docs/api/webhooks, 2026-07),
# abridged to the fields a mapping could read; orders/create, orders/cancelled and orders/updated
# show the same order. It is a cancelled, voided test order.
SAMPLE_ORDER: dict[str, Any] = {
    "id": 820982911946154508, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
    "buyer_accepts_marketing": True, "cancel_reason": "customer",
    "cancelled_at": "2021-12-31T19:00:00-05:00", "confirmed": False,
    "contact_email": "jon@example.com", "created_at": "2021-12-31T19:00:00-05:00",
    "currency": "USD", "current_total_price": "414.95", "email": "jon@example.com",
    "financial_status": "voided", "fulfillment_status": None, "location_id": None,
    "name": "#9999", "order_number": 1234, "phone": None, "presentment_currency": "USD",
    "processed_at": "2021-12-31T19:00:00-05:00", "source_name": "web",
    "subtotal_price": "404.95", "test": True, "total_discounts": "20.00",
    "total_price": "404.95", "total_price_set": money("404.95"),
    "updated_at": "2021-12-31T19:00:00-05:00",
    "customer": {"id": 115310627314723954, "email": "john@example.com", "phone": None,
                 "first_name": "John", "last_name": "Smith", "state": "disabled",
                 "verified_email": True, "currency": "USD"},
    "line_items": [
        line(487817672276298554, "Aviator sunglasses", "SKU2006-001", "89.99"),
        line(789012345678901234, "Lens Protection Plan (2 Year)", "LENS-PROTECT-2YR", "19.99"),
        line(890123456789012345, "Premium Leather Case", "CASE-LEATHER-PREM", "24.99"),
        line(976318377106520349, "Mid-century lounger", "SKU2006-020", "159.99"),
        line(315789986012684393, "Coffee table", "SKU2006-035", "119.99"),
    ],
    "refunds": [],
}  # fmt: skip
# The refunds/create sample of the same reference, abridged likewise.
SAMPLE_REFUND: dict[str, Any] = {
    "id": 890088186047892319, "order_id": 820982911946154508,
    "created_at": "2021-12-31T19:00:00-05:00", "note": "Things were damaged", "user_id": 548380009,
    "processed_at": "2021-12-31T19:00:00-05:00", "restock": False,
    "refund_line_items": [{"id": 487817672276298627, "quantity": 1,
                           "line_item_id": 487817672276298554, "subtotal": 89.99,
                           "subtotal_set": money("89.99")}],
    "transactions": [
        {"id": 245135271310201194, "order_id": 820982911946154508, "kind": "refund",
         "gateway": "bogus", "status": "success", "message": "This is a refund",
         "amount": "75.00", "currency": None},
        {"id": 839212141605670573, "order_id": 820982911946154508, "kind": "refund",
         "gateway": "bogus", "status": "success", "message": None, "amount": "10.00",
         "currency": None},
    ],
}  # fmt: skip
# The same order as it would arrive live: not a test, and paid.
LIVE = {**SAMPLE_ORDER, "test": False, "financial_status": "paid", "cancelled_at": None,
        "cancel_reason": None}  # fmt: skip
AT = "2022-01-01T00:00:00.000Z"

PURCHASE = {
    "event_id": expected_id("shopify", "c1", "order:820982911946154508", "purchase.completed"),
    "type": "purchase.completed", "schema_version": 2, "occurred_at": AT, "source": "shopify",
    "identities": {"email": "jon@example.com"},
    "payload": {
        "order_id": "820982911946154508", "amount": "404.95", "currency": "USD",
        "items": [
            {"sku": "SKU2006-001", "name": "Aviator sunglasses", "quantity": 1,
             "unit_price": "89.99"},
            {"sku": "LENS-PROTECT-2YR", "name": "Lens Protection Plan (2 Year)", "quantity": 1,
             "unit_price": "19.99"},
            {"sku": "CASE-LEATHER-PREM", "name": "Premium Leather Case", "quantity": 1,
             "unit_price": "24.99"},
            {"sku": "SKU2006-020", "name": "Mid-century lounger", "quantity": 1,
             "unit_price": "159.99"},
            {"sku": "SKU2006-035", "name": "Coffee table", "quantity": 1, "unit_price": "119.99"},
        ],
        "channel": "online",
    },
}  # fmt: skip
REFUND = {
    "event_id": expected_id("shopify", "c1", "refund:890088186047892319", "purchase.refunded"),
    "type": "purchase.refunded", "schema_version": 1, "occurred_at": AT, "source": "shopify",
    "identities": {"email": "jon@example.com"},
    "payload": {"order_id": "820982911946154508", "amount": "85.00", "currency": "USD",
                "reason": "Things were damaged", "channel": "online"},
}  # fmt: skip


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def sent(
    topic: str, body: dict[str, Any], webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
) -> RawDelivery:
    raw = orjson.dumps(body)
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(raw),
               "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Shop-Domain": "jsmith.myshopify.com",
               "X-Shopify-API-Version": "2026-07"}  # fmt: skip
    return delivery("shopify", raw, headers, RECEIVED)


# -- signature ---------------------------------------------------------------------------------


def test_a_signed_delivery_is_accepted() -> None:
    SHOPIFY.verify(sent("orders/paid", LIVE), SECRET, RECEIVED)


def test_a_tampered_body_is_refused() -> None:
    good = sent("orders/paid", LIVE)
    tampered = delivery(
        "shopify", good.body.replace(b"404.95", b"4.95"), dict(good.headers), RECEIVED
    )
    with pytest.raises(SignatureRejected, match="does not match"):
        SHOPIFY.verify(tampered, SECRET, RECEIVED)


def test_another_secret_and_a_missing_signature_are_refused() -> None:
    good = sent("orders/paid", LIVE)
    with pytest.raises(SignatureRejected, match="does not match"):
        SHOPIFY.verify(good, "another secret", RECEIVED)
    headers = {k: v for k, v in good.headers.items() if k != "x-shopify-hmac-sha256"}
    with pytest.raises(SignatureRejected, match="missing X-Shopify-Hmac-Sha256"):
        SHOPIFY.verify(delivery("shopify", good.body, headers, RECEIVED), SECRET, RECEIVED)


def test_the_webhook_id_names_the_delivery() -> None:
    assert SHOPIFY.delivery_id(sent("orders/paid", LIVE, "w-1")) == "w-1"


# -- mapping -------------------------------------------------------------------------------------


def test_a_paid_order_is_one_purchase_whichever_topic_brings_it() -> None:
    created = SHOPIFY.map(sent("orders/create", LIVE, "w-1"))
    paid = SHOPIFY.map(sent("orders/paid", LIVE, "w-2"))
    assert list(created.envelopes) == list(paid.envelopes) == [PURCHASE]
    assert created.mapping_version == "shopify-1"
    assert_accepted_by_intake(paid.envelopes, RECEIVED)


def test_a_cancelled_refunded_order_gives_its_purchase_and_its_refunds() -> None:
    cancelled = {**LIVE, "financial_status": "refunded", "cancelled_at": "2021-12-31T19:00:00-05:00",
                 "refunds": [SAMPLE_REFUND]}  # fmt: skip
    mapped = SHOPIFY.map(sent("orders/cancelled", cancelled))
    assert list(mapped.envelopes) == [PURCHASE, REFUND] and mapped.unmapped == ()
    assert_accepted_by_intake(mapped.envelopes, RECEIVED)
    updated = SHOPIFY.map(sent("orders/updated", cancelled))
    assert [e["event_id"] for e in updated.envelopes] == [PURCHASE["event_id"], REFUND["event_id"]]


def test_the_documented_sample_is_a_test_order_and_left_unmapped() -> None:
    mapped = SHOPIFY.map(sent("orders/paid", SAMPLE_ORDER))
    assert mapped.envelopes == ()
    assert [(u.kind, u.reason) for u in mapped.unmapped] == [("orders/paid", "a test order")]


def test_an_unpaid_order_is_not_a_purchase_even_under_the_paid_topic() -> None:
    pending = {**LIVE, "financial_status": "pending"}
    for topic in ("orders/create", "orders/paid"):  # the topic header is not signed
        mapped = SHOPIFY.map(sent(topic, pending))
        assert mapped.envelopes == ()
        assert [u.reason for u in mapped.unmapped] == [
            "the order is not paid (financial_status pending)"
        ]


def test_a_refund_delivery_is_unmapped_with_the_reason() -> None:
    mapped = SHOPIFY.map(sent("refunds/create", SAMPLE_REFUND))
    assert mapped.envelopes == ()
    assert [u.kind for u in mapped.unmapped] == ["refunds/create"]
    assert "names its order but not the customer" in mapped.unmapped[0].reason


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("products/create", {"id": 1}, "not a topic"),
        ("orders/paid", {"name": "no id"}, "not an order"),
        ("orders/paid", {**LIVE, "email": None, "contact_email": None, "customer": {}},
         "no customer email"),
        ("orders/cancelled", {**LIVE, "financial_status": "voided"}, "not paid"),
    ],
)  # fmt: skip
def test_what_is_not_a_purchase_is_reported(topic: str, body: dict[str, Any], reason: str) -> None:
    mapped = SHOPIFY.map(sent(topic, body))
    assert mapped.envelopes == () and reason in mapped.unmapped[0].reason


def test_a_point_of_sale_order_was_paid_in_a_store() -> None:
    pos = {**LIVE, "source_name": "pos", "location_id": 655441491, "phone": "+16135551111"}
    [purchase] = SHOPIFY.map(sent("orders/paid", pos)).envelopes
    assert (purchase["payload"]["channel"], purchase["payload"]["store_id"]) == (
        "store",
        "655441491",
    )
    assert purchase["identities"] == {"email": "jon@example.com", "phone": "+16135551111"}
    assert_accepted_by_intake([purchase], RECEIVED)


def test_the_customers_email_stands_in_when_the_order_has_none() -> None:
    [purchase] = SHOPIFY.map(
        sent("orders/paid", {**LIVE, "email": "", "contact_email": None})
    ).envelopes
    assert purchase["identities"] == {"email": "john@example.com"}


def test_a_refund_without_money_is_reported() -> None:
    restock_only = {**SAMPLE_REFUND, "transactions": []}
    order = {**LIVE, "financial_status": "paid", "refunds": [restock_only]}
    mapped = SHOPIFY.map(sent("orders/updated", order))
    assert [e["type"] for e in mapped.envelopes] == ["purchase.completed"]
    assert "moved no money" in mapped.unmapped[0].reason


def test_the_same_delivery_maps_to_the_same_ids() -> None:
    assert SHOPIFY.map(sent("orders/paid", LIVE)) == SHOPIFY.map(sent("orders/paid", LIVE))


def test_a_body_that_is_not_json_is_unmapped() -> None:
    mapped = SHOPIFY.map(
        delivery("shopify", b"<xml/>", {"X-Shopify-Topic": "orders/paid"}, RECEIVED)
    )
    assert mapped.envelopes == () and [u.kind for u in mapped.unmapped] == ["orders/paid"]
