"""The profile and consent folds: functions of the set of events, whatever order they come in."""

from __future__ import annotations

import random

from projections.consents import ContactEvent, consent_state, undeliverable
from projections.profiles import Precedence, ProfileEvent, display_name, nested, profile_state


def _p(event: str, at: str, source: str, **payload: object) -> ProfileEvent:
    return ProfileEvent(event, f"2026-05-0{at}T00:00:00.000Z", source, payload)


PROFILE = [
    _p("e1", "1", "import:crm.csv", name={"family": "山田", "given": "花子", "family_kana": "ヤマダ"},
       emails=["hanako@example.jp"], address={"postal_code": "100-0001", "city": "千代田区"}),
    _p("e2", "3", "web", name={"family": "山田", "given": "はな"}, company="Acme",
       attributes={"plan": "gold"}),
    _p("e3", "2", "import:crm.csv", address=None, birthday="1980-01-02"),
    _p("e4", "4", "web", attributes={"plan": None}, preferred_language="ja"),
]  # fmt: skip


def test_latest_by_event_time_wins_when_no_source_is_preferred() -> None:
    for seed in range(5):
        events = list(PROFILE)
        random.Random(seed).shuffle(events)
        state = nested(profile_state(events))
        assert state == {
            "name": {"family": "山田", "given": "はな", "family_kana": "ヤマダ"},
            "emails": ["hanako@example.jp"],
            "company": "Acme",
            "birthday": "1980-01-02",
            "preferred_language": "ja",
        }  # address cleared by e3 (after e1), plan set by e2 and cleared by e4


def test_a_preferred_source_wins_over_a_later_one_field_by_field() -> None:
    state = profile_state(reversed(PROFILE), Precedence.parse("import:*"))
    assert state["name.given"].value == "花子"  # the CRM's, though the web form's is later
    assert state["company"].value == "Acme"  # the CRM never said: the web form's stands
    assert "address.city" not in state  # the CRM cleared it itself, later than it set it


def test_the_header_name_follows_the_script() -> None:
    assert display_name({"name": {"family": "山田", "given": "花子"}}) == "山田 花子"
    assert display_name({"name": {"family": "Johnson", "given": "Liam"}}) == "Liam Johnson"
    assert display_name({"name": {"family": "Johnson", "display": "Dr. J"}}) == "Dr. J"
    assert display_name({}) is None


def _c(
    type_: str, event: str, day: int, email: str | None = None, **payload: object
) -> ContactEvent:
    return ContactEvent(type_, event, f"2026-05-{day:02d}T00:00:00.000Z", "test", payload, email)


CONSENT = [
    _c("consent.granted", "c1", 1, channel="email", purpose="marketing", proof={"text": "Yes"}),
    _c("email.unsubscribed", "c2", 5, campaign_id="spring"),
    _c("consent.granted", "c3", 3, channel="sms", purpose="marketing"),
    _c("consent.withdrawn", "c4", 2, channel="sms", purpose="marketing"),
    _c("consent.granted", "c5", 9, channel="line", purpose="service"),
    _c("email.bounced", "c6", 4, "a@example.com", bounce_type="hard", reason="550"),
    _c("email.bounced", "c7", 6, "b@example.com", bounce_type="hard"),
    _c("email.delivered", "c8", 7, "b@example.com"),
    _c("email.bounced", "c9", 8, "c@example.com", bounce_type="soft"),
]  # fmt: skip


def test_consent_is_explicit_for_every_channel_and_purpose_in_any_order() -> None:
    first = consent_state(CONSENT)
    for seed in range(5):
        events = list(CONSENT)
        random.Random(seed).shuffle(events)
        assert consent_state(events) == first
    assert first["email"]["marketing"]["state"] == "withdrawn"  # the unsubscribe is later
    assert first["sms"]["marketing"]["state"] == "granted"  # granted on the 3rd, after the 2nd
    assert first["line"]["service"]["state"] == "granted"
    assert first["post"]["marketing"] == {"state": "unknown"}
    assert sum(len(purposes) for purposes in first.values()) == 7 * 3


def test_a_hard_bounce_marks_the_address_until_a_later_delivery() -> None:
    found = undeliverable(reversed(CONSENT))
    assert [u["address"] for u in found] == ["a@example.com"]  # b delivered later; c soft
    assert found[0]["reason"] == "550"
