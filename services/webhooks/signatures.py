"""What the providers' signature schemes share: the refusal, header reads, HMACs, clocks.

Every comparison of a computed signature with a presented one goes through ``equal``
(``hmac.compare_digest``), so the time it takes does not tell how much of it was right.
"""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime, timedelta

from services.webhooks.delivery import RawDelivery


class SignatureRejected(Exception):
    """The delivery did not prove that the provider sent it; ``reason`` says why (never a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require_header(delivery: RawDelivery, name: str) -> str:
    value = delivery.headers.get(name, "").strip()
    if not value:
        raise SignatureRejected(f"missing {name} header")
    return value


def equal(computed: str, presented: str) -> bool:
    """Constant-time comparison; bytes, so a non-ASCII header cannot make it raise."""
    return hmac.compare_digest(computed.encode(), presented.encode())


def hmac_base64(key: str, message: bytes, algorithm: str) -> str:
    return base64.b64encode(hmac.digest(key.encode(), message, algorithm)).decode("ascii")


def hmac_hex(key: str, message: bytes, algorithm: str) -> str:
    return hmac.digest(key.encode(), message, algorithm).hex()


def epoch_seconds(text: str, header: str) -> datetime:
    """A signed Unix timestamp header, in seconds."""
    if not text.isascii() or not text.isdigit():
        raise SignatureRejected(f"{header} is not a Unix time in seconds")
    return datetime.fromtimestamp(int(text), UTC)


def check_fresh(sent_at: datetime, now: datetime, tolerance: timedelta, header: str) -> None:
    """Refuse a signed timestamp further than ``tolerance`` from ``now`` either way (a replay)."""
    skew = abs(now - sent_at)
    if skew > tolerance:
        raise SignatureRejected(
            f"{header} is {int(skew.total_seconds())} s from now (more than "
            f"{int(tolerance.total_seconds())} s): a stale or replayed delivery"
        )
