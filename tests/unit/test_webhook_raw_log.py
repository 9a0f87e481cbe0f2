"""``webhooks.raw`` records: byte-for-byte deliveries, sealed so that erasing anyone named shreds them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import jsonschema
import orjson
import pytest

from events.contracts.schemas import topic_schema
from events.privacy.protector import EnvelopeProtector
from events.topics import WEBHOOKS_RAW
from services.webhooks.raw_log import RawUnreadable, named_in, open_raw, raw_record
from tests.privacy_memory import MemoryKeyStore
from tests.unit.webhook_support import delivery

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BODY = orjson.dumps(
    [
        {"email": "Ann@Example.com", "event": "open", "sg_event_id": "a"},
        {"email": "bob@example.org", "event": "brand_new", "sg_event_id": "b"},
    ]
)


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def protector(store: MemoryKeyStore) -> EnvelopeProtector:
    return EnvelopeProtector(store)


def test_everyone_the_body_names_is_found_mapped_or_not() -> None:
    sent = delivery("sendgrid", BODY, {}, AT)
    assert named_in(sent, []) == {("email", "ann@example.com"), ("email", "bob@example.org")}
    form = b"From=%2B14155552671&To=%2B14155550100&Body=hi"
    assert named_in(delivery("twilio", form, {}, AT), []) == {
        ("phone", "+14155552671"),
        ("phone", "+14155550100"),
    }
    line = b'{"events":[{"type":"beacon","source":{"userId":"U206d25c2ea6bd87c17655609a1c37cb8"}}]}'
    assert named_in(delivery("line", line, {}, AT), [{"device_id": "d1"}]) == {
        ("social", "line:U206d25c2ea6bd87c17655609a1c37cb8"),
        ("device_id", "d1"),
    }


def test_a_sealed_delivery_opens_byte_for_byte_and_shows_no_value(
    protector: EnvelopeProtector,
) -> None:
    sent = delivery("sendgrid", BODY, {"X-Test": "1"}, AT)
    record = raw_record(sent, "acme", "sha256:x", "sendgrid-1", ["e2", "e1"], named_in(sent, []),
                        protector)  # fmt: skip
    assert record.topic == WEBHOOKS_RAW
    assert record.key == b"acme|c1"
    assert b"example" not in record.value.lower()
    entry = open_raw(record.value, protector)
    assert entry.delivery == sent
    assert (entry.tenant, entry.delivery_id, entry.event_ids) == ("acme", "sha256:x", ("e1", "e2"))


def test_erasing_any_one_person_named_shreds_the_delivery(
    store: MemoryKeyStore, protector: EnvelopeProtector
) -> None:
    sent = delivery("sendgrid", BODY, {}, AT)
    record = raw_record(sent, "acme", "d", "sendgrid-1", [], named_in(sent, []), protector)
    bob = protector.subject("acme", "email", "bob@example.org")  # of the event nobody maps
    store.erase("acme", [bob], "test", "erasure request")
    entry = open_raw(record.value, EnvelopeProtector(store))
    assert entry.delivery is None
    assert entry.delivery_id == "d"  # still counted by a replay, not read


def test_a_record_moved_to_another_delivery_does_not_open(protector: EnvelopeProtector) -> None:
    sent = delivery("sendgrid", BODY, {}, AT)
    record = raw_record(sent, "acme", "d1", "sendgrid-1", [], named_in(sent, []), protector)
    moved = orjson.loads(record.value)
    moved["delivery_id"] = "d2"
    with pytest.raises(RawUnreadable):
        open_raw(orjson.dumps(moved), protector)
    with pytest.raises(RawUnreadable):
        open_raw(b"not json", protector)


def test_a_delivery_naming_nobody_is_sealed_under_its_connector(
    protector: EnvelopeProtector,
) -> None:
    sent = delivery("shopify", b'{"id": 1, "title": "a product"}', {}, AT)
    record = raw_record(sent, "acme", "d", "shopify-1", [], named_in(sent, []), protector)
    assert len(orjson.loads(record.value)["shares"]) == 1
    assert open_raw(record.value, protector).delivery == sent


def test_with_encryption_off_the_delivery_is_kept_in_clear() -> None:
    sent = delivery("line", b'{"events": []}', {}, AT)
    record = raw_record(sent, "acme", "d", "line-1", [], frozenset(), None)
    assert open_raw(record.value, None).delivery == sent


def test_records_follow_the_topic_contract(protector: EnvelopeProtector) -> None:
    validator = jsonschema.Draft7Validator(topic_schema(WEBHOOKS_RAW))
    sent = delivery("sendgrid", BODY, {}, AT)
    sealed = raw_record(sent, "acme", "d", "sendgrid-1", [str(uuid.uuid4())], named_in(sent, []),
                        protector)  # fmt: skip
    clear = raw_record(sent, "acme", "d", "sendgrid-1", [], frozenset(), None)
    for record in (sealed, clear):
        validator.validate(orjson.loads(record.value))
    broken = {**orjson.loads(clear.value), "sealed": "x"}
    assert not validator.is_valid(broken)
