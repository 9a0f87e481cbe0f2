"""Intake: the exact envelope written to the log, whichever door an event came through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from events.intake import EventIntake, PreparedEvent
from events.problems import Problem
from tests import samples

NOW = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def intake() -> EventIntake:
    return EventIntake("US")


def accepted(result: PreparedEvent | list[Problem]) -> dict[str, object]:
    assert isinstance(result, PreparedEvent), result
    return dict(orjson.loads(result.value))


def refused(result: PreparedEvent | list[Problem]) -> list[str]:
    assert isinstance(result, list), result
    return [p.pointer for p in result]


def test_envelope_is_normalized_and_stamped(intake: EventIntake) -> None:
    event = samples.chat_message(event_id="6F9619FF-8B86-D011-B42D-00C04FC964FF")
    written = accepted(intake.prepare(event, "acme", NOW))
    assert written["event_id"] == "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    assert written["tenant"] == "acme"
    assert written["received_at"] == "2026-11-20T12:00:00.123Z"
    assert written["occurred_at"] == "2026-11-20T03:01:00.000Z"
    assert written["channel"] == "chat"
    assert written["identities"] == {"email": "tanaka@example.com"}


def test_offsets_are_converted_to_utc(intake: EventIntake) -> None:
    written = accepted(intake.prepare(samples.call_completed(), "acme", NOW))
    assert written["occurred_at"] == "2026-11-20T00:15:00.000Z"


def test_batch_shares_one_received_at(intake: EventIntake) -> None:
    results = intake.prepare_batch(list(samples.batch(4)), "acme", NOW)
    assert {accepted(r)["received_at"] for r in results} == {"2026-11-20T12:00:00.123Z"}


def test_given_channel_must_match_the_type(intake: EventIntake) -> None:
    result = intake.prepare(samples.call_completed(channel="chat"), "acme", NOW)
    assert result == [Problem("/channel", "this call.completed is on channel 'phone'")]
    assert isinstance(
        intake.prepare(samples.call_completed(channel="phone"), "acme", NOW), PreparedEvent
    )


def test_events_from_the_future_are_refused(intake: EventIntake) -> None:
    soon = (NOW + timedelta(minutes=10)).isoformat()
    later = (NOW + timedelta(hours=2)).isoformat()
    assert isinstance(
        intake.prepare(samples.chat_message(occurred_at=soon), "acme", NOW), PreparedEvent
    )
    assert refused(intake.prepare(samples.chat_message(occurred_at=later), "acme", NOW)) == [
        "/occurred_at"
    ]


def test_timestamp_without_offset_is_refused(intake: EventIntake) -> None:
    result = intake.prepare(samples.chat_message(occurred_at="2026-11-20T03:00:00"), "acme", NOW)
    assert refused(result) == ["/occurred_at"]
    assert isinstance(result, list) and "RFC 3339" in result[0].message


def test_key_is_tenant_and_primary_identity(intake: EventIntake) -> None:
    event = samples.chat_message(identities={"device_id": "d1", "phone": "415 555 2671"})
    result = intake.prepare(event, "acme", NOW)
    assert isinstance(result, PreparedEvent)
    assert result.key == b"acme|phone:+14155552671"


def test_optional_ids_are_kept(intake: EventIntake) -> None:
    event = samples.chat_message(conversation_id="chat-1", correlation_id="corr-9")
    written = accepted(intake.prepare(event, "acme", NOW))
    assert (written["conversation_id"], written["correlation_id"]) == ("chat-1", "corr-9")
