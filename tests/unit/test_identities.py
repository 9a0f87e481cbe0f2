"""Identity normalization: one spelling per identifier."""

from __future__ import annotations

import pytest

from events.identities import (
    IdentityError,
    normalize_email,
    normalize_identities,
    normalize_phone,
    normalize_social,
    primary_identity,
)


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "+1 415 555 2671",
        "4155552671",
        "+14155552671",
    ],
)
def test_us_phone_formats_become_e164(raw: str) -> None:
    assert normalize_phone(raw, "US") == "+14155552671"


def test_region_applies_to_national_numbers_only() -> None:
    assert normalize_phone("090-1234-5678", "JP") == "+819012345678"
    assert normalize_phone("+81 90 1234 5678", "US") == "+819012345678"


@pytest.mark.parametrize("raw", ["12", "phone", "+1 000 000 0000"])
def test_invalid_phones_are_refused(raw: str) -> None:
    with pytest.raises(IdentityError):
        normalize_phone(raw, "US")


def test_email_is_trimmed_and_lowercased() -> None:
    assert normalize_email("  Tanaka@Example.COM ") == "tanaka@example.com"
    with pytest.raises(IdentityError):
        normalize_email("tanaka at example")


def test_social_handles_keep_their_network() -> None:
    assert normalize_social("X:@Tanaka_Y") == "x:tanaka_y"
    with pytest.raises(IdentityError):
        normalize_social("tanaka")


def test_problems_name_each_bad_identifier() -> None:
    ids, problems = normalize_identities(
        {"email": "A@B.co", "phone": "12", "loyalty_id": "  "}, "US"
    )
    assert ids == {"email": "a@b.co"}
    assert [p.pointer for p in problems] == ["/identities/phone", "/identities/loyalty_id"]


def test_primary_identity_prefers_strong_identifiers() -> None:
    assert primary_identity({"device_id": "d", "phone": "+1", "email": "e"}) == ("email", "e")
    assert primary_identity({"device_id": "d"}) == ("device_id", "d")
    assert primary_identity({"customer_ref": "c", "loyalty_id": "l"}) == ("customer_ref", "c")
