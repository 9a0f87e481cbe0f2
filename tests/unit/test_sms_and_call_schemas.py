"""The types the provider webhooks brought: sms.* v1 and call.completed v2 (read from v1 too)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from events.catalog import load_catalog
from events.intake import EventIntake, PreparedEvent
from events.touchpoint import decode_touchpoint
from events.upcasting import call_completed_v1_to_v2
from events.validation import SchemaValidator

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
V1_CALL = {"call_id": "c-1", "direction": "inbound", "duration_s": 252, "agent": "Sato",
           "disposition": "resolved"}  # fmt: skip


@pytest.fixture(scope="module")
def validator() -> SchemaValidator:
    return SchemaValidator(load_catalog())


def envelope(type_: str, version: int, payload: dict[str, object]) -> dict[str, object]:
    return {"type": type_, "schema_version": version, "occurred_at": "2026-11-20T03:00:00Z",
            "source": "test", "identities": {"phone": "+14155552671"}, "payload": payload}  # fmt: skip


def test_a_v1_call_is_a_valid_v2_call(validator: SchemaValidator) -> None:
    upcast = call_completed_v1_to_v2(V1_CALL)
    assert upcast == V1_CALL and upcast is not V1_CALL
    assert validator.problems(envelope("call.completed", 2, upcast)) == []


def test_v2_takes_a_call_without_disposition_and_with_its_recording() -> None:
    payload = {"call_id": "CA1", "direction": "outbound", "duration_s": 42,
               "recording": {"recording_id": "RE1", "url": "https://api.twilio.com/RE1",
                             "duration_s": 40}}  # fmt: skip
    result = EventIntake("US").prepare(envelope("call.completed", 2, payload), "acme", NOW)
    assert isinstance(result, PreparedEvent), result
    assert orjson.loads(result.value)["channel"] == "phone"


def test_v1_still_requires_a_disposition(validator: SchemaValidator) -> None:
    payload = {"call_id": "CA1", "direction": "outbound", "duration_s": 42}
    problems = validator.problems(envelope("call.completed", 1, payload))
    assert [p.pointer for p in problems] == ["/payload/disposition"]


def test_a_logged_v1_call_reads_as_v2() -> None:
    logged = {**envelope("call.completed", 1, V1_CALL), "event_id": "e", "tenant": "t",
              "received_at": "2026-11-20T03:00:01.000Z", "channel": "phone"}  # fmt: skip
    touchpoint = decode_touchpoint(orjson.dumps(logged))
    assert (touchpoint.schema_version, touchpoint.written_version) == (2, 1)
    assert touchpoint.payload == V1_CALL


@pytest.mark.parametrize(
    ("type_", "pointers"),
    [
        ("sms.received", {"/payload/from", "/payload/to", "/payload/text"}),
        ("sms.sent", {"/payload/from", "/payload/to", "/payload/text"}),
        ("sms.delivered", {"/payload/from", "/payload/to"}),
        ("sms.failed", {"/payload/from", "/payload/to"}),
    ],
)
def test_sms_numbers_and_text_are_personal_data(type_: str, pointers: set[str]) -> None:
    event_type = load_catalog().types[type_]
    assert set(event_type.pii_pointers(1)) == pointers
    assert event_type.allowed_channels() == {"sms"}


def test_the_recording_url_is_personal_data() -> None:
    assert "/payload/recording/url" in load_catalog().types["call.completed"].pii_pointers(2)


def test_sms_types_refuse_values_they_do_not_know(validator: SchemaValidator) -> None:
    event = envelope("sms.failed", 1, {"message_id": "SM1", "status": "lost"})
    problems = validator.problems(event)
    assert [p.pointer for p in problems] == ["/payload/status"]
