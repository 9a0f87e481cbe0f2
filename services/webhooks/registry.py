"""Every provider Touchline receives webhooks from, by the name in the URL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.webhooks.chatwoot import Chatwoot
from services.webhooks.delivery import RawDelivery
from services.webhooks.line import Line
from services.webhooks.provider import Provider
from services.webhooks.sendgrid import SendGrid
from services.webhooks.shopify import Shopify
from services.webhooks.signatures import SignatureRejected
from services.webhooks.twilio import Twilio

PROVIDERS: dict[str, Provider] = {
    provider.name: provider for provider in (SendGrid(), Twilio(), Line(), Shopify(), Chatwoot())
}


class UnknownProvider(KeyError):
    """The URL names a provider Touchline has no module for."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no webhook provider {name!r} (known: {', '.join(sorted(PROVIDERS))})")
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


def provider_for(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(name) from None


def verify_with_any(
    provider: Provider, delivery: RawDelivery, secrets: Sequence[str], now: datetime
) -> None:
    """Accept the delivery if any of the connector's usable secrets verifies it.

    A rotation leaves the previous secret usable for a grace period, so a retry signed before
    the rotation still passes. Raises the last refusal when none does.
    """
    refusal = SignatureRejected("the connector has no usable secret")
    for secret in secrets:
        try:
            provider.verify(delivery, secret, now)
        except SignatureRejected as exc:
            refusal = exc
        else:
            return
    raise refusal
