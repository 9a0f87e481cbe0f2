"""A webhook delivery exactly as the provider sent it: the record every later step derives from.

The route stores it before anything else, so a mapping fixed later can be replayed over the
same bytes and give the same event ids.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class Headers(Mapping[str, str]):
    """HTTP headers looked up without regard to case (HTTP/2 lowercases them, proxies re-case them).

    Of two headers with one name the later wins; none of the headers read here repeats.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, str] = {name.lower(): value for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True)
class RawDelivery:
    """One HTTP request from a provider.

    ``url`` is the full URL as the provider called it (scheme, host, port, path and query as
    configured at the provider, not as a proxy rewrote it): Twilio signs it.
    """

    provider: str
    connector_id: str
    url: str
    headers: Headers
    body: bytes
    received_at: datetime

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must carry a time zone (UTC)")

    def as_record(self) -> dict[str, Any]:
        """JSON-ready form for storing the delivery (the body base64, as it may not be text)."""
        return {
            "provider": self.provider,
            "connector_id": self.connector_id,
            "url": self.url,
            "headers": dict(self.headers),
            "body": base64.b64encode(self.body).decode("ascii"),
            "received_at": self.received_at.isoformat(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RawDelivery:
        """The delivery ``as_record`` wrote, byte for byte."""
        return cls(
            provider=record["provider"],
            connector_id=record["connector_id"],
            url=record["url"],
            headers=Headers(record["headers"]),
            body=base64.b64decode(record["body"]),
            received_at=datetime.fromisoformat(record["received_at"]),
        )


def body_digest(delivery: RawDelivery) -> str:
    """A stand-in delivery id for providers that send none: a retry repeats the same body."""
    return "sha256:" + hashlib.sha256(delivery.body).hexdigest()
