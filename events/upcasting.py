"""Upcasters: old schema versions are read as the latest one; the log is never rewritten.

Each upcaster turns the payload of version N into version N+1. Reading a
touchpoint applies them in order until the type's latest version.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

#: ISO 4217 currencies without minor units; the rest are written with two decimals.
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


def purchase_completed_v1_to_v2(payload: Payload) -> Payload:
    """v1 sent ``total`` as a JSON number (binary float, lossy) and had no items or channel.

    v2 carries ``amount`` as a decimal string in the currency's minor unit,
    ``items`` (unknown for v1 orders, so empty) and ``channel``: an order with a
    ``store_id`` was paid in a store, anything else online.
    """
    currency = payload["currency"]
    exponent = Decimal(1) if currency in _ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    amount = Decimal(str(payload["total"])).quantize(exponent)
    upcast: Payload = {
        "order_id": payload["order_id"],
        "amount": str(amount),
        "currency": currency,
        "items": [],
        "channel": "store" if "store_id" in payload else "online",
    }
    if "store_id" in payload:
        upcast["store_id"] = payload["store_id"]
    return upcast


def call_completed_v1_to_v2(payload: Payload) -> Payload:
    """v2 made ``disposition`` optional and added ``recording``: a v1 payload is already valid v2.

    A copy, so that a reader changing the upcast payload never changes the v1 one.
    """
    return dict(payload)


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("purchase.completed", 1): purchase_completed_v1_to_v2,
    ("call.completed", 1): call_completed_v1_to_v2,
}


def upcast_payload(type_name: str, version: int, latest: int, payload: Payload) -> Payload:
    """Apply the upcasters from ``version`` up to ``latest``."""
    while version < latest:
        payload = UPCASTERS[(type_name, version)](payload)
        version += 1
    return payload
