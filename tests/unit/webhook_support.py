"""What the provider webhook tests share: deliveries, expected ids, and the real intake check."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from events.intake import EventIntake, PreparedEvent
from services.webhooks.delivery import Headers, RawDelivery

#: written out here, not imported: a test must fail if the code's namespace or id rule changes
NAMESPACE = uuid.UUID("3f6c2a1e-8d4b-5c7a-9e21-7b0d4f5a6c38")


def expected_id(provider: str, connector_id: str, key: str, type_: str) -> str:
    """The documented rule: UUIDv5 of provider, connector, the provider's event key, the type."""
    return str(uuid.uuid5(NAMESPACE, f"{provider}|{connector_id}|{key}|{type_}"))


def delivery(
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
    *,
    connector_id: str = "c1",
    url: str = "https://hooks.example.com/v1/webhooks/x/c1",
) -> RawDelivery:
    return RawDelivery(provider, connector_id, url, Headers(headers), body, received_at)


@cache
def _intake() -> EventIntake:
    return EventIntake("US")


def assert_accepted_by_intake(envelopes: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """Every envelope passes the ingest's own validation and normalization, unchanged in meaning."""
    for envelope in envelopes:
        result = _intake().prepare(dict(envelope), "acme", now)
        assert isinstance(result, PreparedEvent), (envelope["type"], result)
        written = orjson.loads(result.value)
        assert written["event_id"] == envelope["event_id"]
        assert written["payload"] == envelope["payload"]
