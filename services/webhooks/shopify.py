"""Shopify order webhooks as ``purchase.completed`` and ``purchase.refunded``.

Signature (shopify.dev/docs/apps/build/webhooks/verify-deliveries): the
``X-Shopify-Hmac-Sha256`` header is the base64 HMAC-SHA256 of the raw body keyed with the app's
client secret (after a rotation Shopify may sign with the old one for up to an hour). It holds
no timestamp, and it does not cover the headers: ``X-Shopify-Topic`` and
``X-Shopify-Webhook-Id`` could be changed on a replayed body. So what an order becomes is read
from the signed body (its ``financial_status`` and ``refunds``), never from the topic alone.

Ids come from the order, not the delivery: ``orders/create`` and ``orders/paid`` of one paid
order give one purchase (``order:<id>``), and each refund is ``refund:<id>`` wherever it is seen.
A ``refunds/create`` body names its order but no customer, so its refund is taken from the
order's own deliveries (``orders/cancelled``, ``orders/updated``), which carry both.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from events.timestamps import TimestampError, parse_instant
from services.webhooks.delivery import RawDelivery, body_digest
from services.webhooks.mapping import (
    Collector,
    Mapped,
    as_dict,
    clip,
    compact,
    email_or_none,
    phone_or_none,
)
from services.webhooks.signatures import SignatureRejected, equal, hmac_base64, require_header

HMAC = "X-Shopify-Hmac-Sha256"
TOPIC = "X-Shopify-Topic"
WEBHOOK_ID = "X-Shopify-Webhook-Id"
MAPPING_VERSION = "shopify-1"
ORDER_TOPICS = frozenset({"orders/create", "orders/paid", "orders/cancelled", "orders/updated"})
#: financial states in which the customer's money was taken (refunded ones included: they were)
PAID = frozenset({"paid", "partially_refunded", "refunded"})
MAX_ITEMS = 500


class Shopify:
    name = "shopify"
    mapping_version = MAPPING_VERSION
    receiver_sets_secret = False

    def check_secret(self, secret: str) -> None:
        if not secret.strip():
            raise ValueError("the Shopify app secret is empty")

    def verify(self, delivery: RawDelivery, secret: str, now: datetime) -> None:
        presented = require_header(delivery, HMAC)
        if not equal(hmac_base64(secret, delivery.body, "sha256"), presented):
            raise SignatureRejected("signature does not match the body")

    def delivery_id(self, delivery: RawDelivery) -> str:
        return delivery.headers.get(WEBHOOK_ID) or body_digest(delivery)

    def map(self, delivery: RawDelivery, checked: bool = True) -> Mapped:
        out = Collector(delivery, MAPPING_VERSION, checked)
        topic = delivery.headers.get(TOPIC, "").strip() or "?"
        try:
            body = orjson.loads(delivery.body)
        except orjson.JSONDecodeError as exc:
            out.skip(topic, f"body is not JSON: {exc}")
            return out.result()
        if topic == "refunds/create":
            out.skip(
                topic,
                "a refund names its order but not the customer; it is mapped from "
                "the order's orders/cancelled or orders/updated delivery",
            )
        elif topic not in ORDER_TOPICS:
            out.skip(topic, "not a topic Touchline maps")
        elif not isinstance(body, dict) or "id" not in body:
            out.skip(topic, "body is not an order")
        else:
            _order(out, topic, body)
        return out.result()


def _order(out: Collector, topic: str, order: dict[str, Any]) -> None:
    if order.get("test") is True:
        out.skip(topic, "a test order")
        return
    customer = as_dict(order.get("customer"))
    email = email_or_none(order.get("email") or order.get("contact_email") or customer.get("email"))
    phone = phone_or_none(order.get("phone") or customer.get("phone"))
    identities = compact({"email": email, "phone": phone})
    if not identities:
        out.skip(topic, "the order names no customer email or E.164 phone")
        return
    status = order.get("financial_status")
    if status in PAID:
        _purchase(out, order, identities)
    refunds = [r for r in order.get("refunds") or [] if isinstance(r, dict)]
    for refund in refunds:
        _refund(out, topic, order, refund, identities)
    if status not in PAID and not refunds:
        out.skip(topic, f"the order is not paid (financial_status {clip(status, 40)})")


def _purchase(out: Collector, order: dict[str, Any], identities: dict[str, str]) -> None:
    amount, currency = _money(order, "total_price")
    items = [item for line in order.get("line_items") or [] if (item := _item(line))]
    payload = {
        "order_id": str(order["id"]),
        "amount": amount,
        "currency": currency,
        "items": items[:MAX_ITEMS],
        **_where(order),
    }
    at = _instant(order.get("processed_at") or order.get("created_at"), out.delivery.received_at)
    out.add("purchase.completed", f"order:{order['id']}", at, identities, compact(payload))


def _refund(
    out: Collector,
    topic: str,
    order: dict[str, Any],
    refund: dict[str, Any],
    identities: dict[str, str],
) -> None:
    """Money back is the refund's successful refund transactions, in the currency paid."""
    moved = [
        t
        for t in refund.get("transactions") or []
        if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status") == "success"
    ]
    if not moved or "id" not in refund:
        out.skip(topic, "a refund that moved no money (no successful refund transaction)")
        return
    total = sum((_decimal(t.get("amount")) or Decimal(0) for t in moved), Decimal(0))
    currency = next((t["currency"] for t in moved if t.get("currency")), None)
    payload = {
        "order_id": str(order["id"]),
        "amount": _text(total),
        "currency": currency or order.get("presentment_currency") or order.get("currency"),
        "reason": clip(refund.get("note"), 512),
        **_where(order),
    }
    at = _instant(refund.get("processed_at") or refund.get("created_at"), out.delivery.received_at)
    out.add("purchase.refunded", f"refund:{refund['id']}", at, identities, compact(payload))


def _item(line: object) -> dict[str, Any] | None:
    if not isinstance(line, dict) or not isinstance(line.get("quantity"), int):
        return None
    if line["quantity"] < 1:
        return None
    sku = line.get("sku") or (f"variant-{line['variant_id']}" if line.get("variant_id") else None)
    item = {
        "sku": clip(sku or f"line-{line.get('id')}", 64),
        "name": clip(line.get("name") or line.get("title"), 256),
        "quantity": line["quantity"],
        "unit_price": _money(line, "price")[0],
    }
    return compact(item)


def _where(order: dict[str, Any]) -> dict[str, Any]:
    """A point-of-sale order was paid in a store (its location); anything else online."""
    if order.get("source_name") == "pos":
        return compact({"channel": "store", "store_id": clip(order.get("location_id"), 64)})
    return {"channel": "online"}


def _money(obj: dict[str, Any], field: str) -> tuple[str | None, str | None]:
    """The amount the customer paid, in their currency (``presentment_money``) when Shopify says."""
    sets = obj.get(f"{field}_set")
    presented = sets.get("presentment_money") if isinstance(sets, dict) else None
    if isinstance(presented, dict) and presented.get("amount") is not None:
        return _text(_decimal(presented["amount"])), presented.get("currency_code")
    return _text(_decimal(obj.get(field))), obj.get("presentment_currency") or obj.get("currency")


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _text(value: Decimal | None) -> str | None:
    return None if value is None or not value.is_finite() else format(value, "f")


def _instant(value: object, fallback: datetime) -> datetime:
    try:
        return parse_instant(value) if isinstance(value, str) else fallback
    except TimestampError:
        return fallback
