"""The webhook receiver against a fake log port: one transaction, refusals, and what intake refuses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from events.intake import EventIntake
from events.records import Record
from events.topics import WEBHOOKS_RAW
from services.ingest.errors import IngestError
from services.ingest.recent_ids import RecentIds
from services.ingest.service import IngestService
from services.ingest.webhook_receiver import WebhookReceiver, _kind_label
from services.kafka.event_log import EventLog, LogUnavailable
from services.webhooks.connectors import SqliteConnectorStore
from services.webhooks.delivery import RawDelivery
from services.webhooks.raw_log import open_raw
from services.webhooks.sealing import AesGcmSealer
from tests.unit import test_webhooks_line as line
from tests.unit.webhook_support import delivery

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class MemoryLog(EventLog):
    """The log port in memory: every append is one transaction; ``down`` refuses them."""

    def __init__(self) -> None:
        self.transactions: list[list[Record]] = []
        self.down = False

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reachable(self) -> bool:
        return not self.down

    async def append(self, records: Sequence[Record]) -> None:
        if self.down:
            raise LogUnavailable("the broker is down")
        self.transactions.append(list(records))


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteConnectorStore]:
    store = SqliteConnectorStore(tmp_path / "c.sqlite3", AesGcmSealer(b"k" * 32))
    yield store
    store.close()


@pytest.fixture
def receiver(log: MemoryLog, store: SqliteConnectorStore) -> WebhookReceiver:
    service = IngestService(EventIntake("US"), log, RecentIds(100), clock=lambda: NOW)
    return WebhookReceiver(service, store, clock=lambda: NOW)


def _line(connector: str, events: list[dict[str, object]]) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"destination": "U1", "events": events})
    digest = hmac.digest(line.SECRET.encode(), body, hashlib.sha256)
    return body, {"x-line-signature": base64.b64encode(digest).decode()}


def test_the_raw_delivery_and_its_touchpoints_are_one_transaction(
    receiver: WebhookReceiver, store: SqliteConnectorStore, log: MemoryLog
) -> None:
    connector = store.add("line", "acme", line.SECRET).connector.connector_id
    body, headers = _line(connector, line.EVENTS)
    provider, credentials = receiver.credentials("line", connector)
    received = asyncio.run(receiver.receive(provider, credentials, _at(connector, body, headers)))
    [transaction] = log.transactions
    raw = [r for r in transaction if r.topic == WEBHOOKS_RAW]
    touchpoints = [r for r in transaction if r.topic is None]
    assert len(raw) == 1 and len(touchpoints) == received.accepted.as_dict()["accepted"] == 5
    entry = open_raw(raw[0].value, None)  # encryption off here: kept in clear
    assert entry.tenant == "acme" and sorted(entry.event_ids) == sorted(received.accepted.event_ids)
    assert {u.kind for u in received.unmapped} == {"message", "join", "undefined"}


def test_what_intake_refuses_is_kept_and_reported_not_refused(
    receiver: WebhookReceiver, store: SqliteConnectorStore, log: MemoryLog
) -> None:
    connector = store.add("line", "acme", line.SECRET).connector.connector_id
    ahead = int((NOW + timedelta(hours=2)).timestamp() * 1000)
    future = {**line.EVENTS[0], "timestamp": ahead, "webhookEventId": "01FUTURE"}
    body, headers = _line(connector, [future])
    provider, credentials = receiver.credentials("line", connector)
    received = asyncio.run(receiver.receive(provider, credentials, _at(connector, body, headers)))
    assert received.accepted.event_ids == []
    [refused] = received.unmapped
    assert refused.kind == "social.dm_received"
    assert refused.reason == "refused by intake at /occurred_at"
    [[raw]] = log.transactions
    assert raw.topic == WEBHOOKS_RAW


def test_a_log_that_is_down_is_503_and_the_retry_is_taken(
    receiver: WebhookReceiver, store: SqliteConnectorStore, log: MemoryLog
) -> None:
    connector = store.add("line", "acme", line.SECRET).connector.connector_id
    body, headers = _line(connector, line.EVENTS[:1])
    provider, credentials = receiver.credentials("line", connector)
    log.down = True
    with pytest.raises(IngestError) as refused:
        asyncio.run(receiver.receive(provider, credentials, _at(connector, body, headers)))
    assert refused.value.status == 503
    log.down = False
    again = asyncio.run(receiver.receive(provider, credentials, _at(connector, body, headers)))
    assert len(again.accepted.event_ids) == 1 and again.accepted.duplicates == []


def test_connectors_unknown_revoked_or_of_another_provider(
    receiver: WebhookReceiver, store: SqliteConnectorStore
) -> None:
    connector = store.add("line", "acme", line.SECRET).connector.connector_id
    for provider, connector_id, status in (("nope", connector, 404), ("shopify", connector, 404),
                                           ("line", "missing", 404)):  # fmt: skip
        with pytest.raises(IngestError) as refused:
            receiver.credentials(provider, connector_id)
        assert refused.value.status == status
    store.revoke(connector)
    with pytest.raises(IngestError) as revoked:
        receiver.credentials("line", connector)
    assert (revoked.value.status, revoked.value.code) == (410, "connector_revoked")


@pytest.mark.parametrize(
    ("provider", "content_type", "ok"),
    [("line", "application/json; charset=utf-8", True), ("line", "text/plain", False),
     ("line", "", False), ("twilio", "application/x-www-form-urlencoded", True),
     ("twilio", "application/json", True), ("sendgrid", "application/x-www-form-urlencoded", False)],
)  # fmt: skip
def test_body_types(provider: str, content_type: str, ok: bool) -> None:
    if ok:
        WebhookReceiver.check_body_type(provider, content_type)
        return
    with pytest.raises(IngestError) as refused:
        WebhookReceiver.check_body_type(provider, content_type)
    assert refused.value.status == 415


def test_metric_labels_are_bounded() -> None:
    assert _kind_label("orders/create") == "orders/create"
    assert _kind_label("x" * 200) == "other"
    assert _kind_label("évènement") == "other"
    assert _kind_label('a"b{c}') == "a_b_c_"


def _at(connector: str, body: bytes, headers: dict[str, str]) -> RawDelivery:
    return delivery("line", body, headers, NOW, connector_id=connector)
