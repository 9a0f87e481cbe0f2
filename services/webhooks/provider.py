"""The port every provider module fills: check a delivery, name it, map it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.webhooks.delivery import RawDelivery
from services.webhooks.mapping import Mapped


class Provider(Protocol):
    """One provider's webhook scheme and mapping (a stateless object)."""

    name: str
    #: bumped whenever the mapping changes what it produces (versioned code)
    mapping_version: str
    #: whether the receiver chooses the secret (so Touchline may generate it) or the provider does
    receiver_sets_secret: bool

    def check_secret(self, secret: str) -> None:
        """Raise ``ValueError`` saying what is wrong when ``secret`` cannot verify anything."""

    def verify(self, delivery: RawDelivery, secret: str, now: datetime) -> None:
        """Raise ``SignatureRejected`` unless ``delivery`` carries a valid, fresh signature."""

    def delivery_id(self, delivery: RawDelivery) -> str:
        """The provider's id for this delivery (the same on its retries), for the raw record."""

    def map(self, delivery: RawDelivery, checked: bool = True) -> Mapped:
        """Envelopes and unmapped items; never raises on what the provider sent.

        ``checked``: each envelope is held to its schema here (an unfit one reported unmapped);
        a caller that hands every envelope to intake, which judges them again, passes False.
        """
