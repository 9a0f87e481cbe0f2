"""The sealed value format: round trip, layout, binding to tenant and place, tamper detection."""

from __future__ import annotations

import base64
import os

import pytest

from events.privacy.ciphertext import (
    PREFIX,
    decode_sealed,
    is_sealed,
    key_id_of,
    open_value,
    seal_value,
)
from events.privacy.errors import TamperedCiphertext
from events.privacy.keys import DataKey, new_data_key

PLACE = "/payload/text"


@pytest.fixture
def key() -> DataKey:
    return new_data_key("acme", "subject-1")


@pytest.mark.parametrize(
    "value",
    [
        "Where is my order?",
        "",
        "田中 太郎",
        42,
        12.5,
        True,
        {"a": [1, "b", None]},
        ["x@y.io", "z@y.io"],
    ],
)
def test_every_json_value_opens_to_what_was_sealed(key: DataKey, value: object) -> None:
    sealed = seal_value(value, key, PLACE)
    assert is_sealed(sealed)
    opened = open_value(sealed, key, PLACE)
    assert opened == value and type(opened) is type(value)


def test_the_layout_is_prefix_then_base64url_of_key_id_nonce_ciphertext_and_tag(
    key: DataKey,
) -> None:
    sealed = seal_value("abc", key, PLACE)
    assert sealed.startswith(PREFIX) and "=" not in sealed
    body = sealed[len(PREFIX) :]
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert raw == decode_sealed(sealed)
    assert raw[:16] == key.key_id == key_id_of(sealed)
    assert len(raw) == 16 + 12 + len(b'"abc"') + 16


def test_sealing_twice_gives_two_ciphertexts(key: DataKey) -> None:
    one, two = seal_value("same", key, PLACE), seal_value("same", key, PLACE)
    assert one != two and decode_sealed(one)[16:28] != decode_sealed(two)[16:28]


def test_a_value_moved_to_another_field_does_not_open(key: DataKey) -> None:
    sealed = seal_value("tanaka@example.com", key, "/identities/email")
    with pytest.raises(TamperedCiphertext, match="/identities/phone"):
        open_value(sealed, key, "/identities/phone")


def test_a_value_moved_to_another_tenant_does_not_open_even_with_the_same_key_bytes(
    key: DataKey,
) -> None:
    sealed = seal_value("tanaka@example.com", key, "/identities/email")
    same_bytes_other_tenant = DataKey.of("globex", key.key_id, key.subject, key.material)
    with pytest.raises(TamperedCiphertext, match="globex"):
        open_value(sealed, same_bytes_other_tenant, "/identities/email")


def test_another_key_is_refused(key: DataKey) -> None:
    sealed = seal_value("x", key, PLACE)
    with pytest.raises(TamperedCiphertext, match="another key"):
        open_value(sealed, new_data_key("acme", "subject-1"), PLACE)
    impostor = DataKey.of("acme", key.key_id, key.subject, os.urandom(32))  # right id, wrong bytes
    with pytest.raises(TamperedCiphertext, match="does not authenticate"):
        open_value(sealed, impostor, PLACE)


def _flip(sealed: str, byte: int) -> str:
    raw = bytearray(decode_sealed(sealed))
    raw[byte] ^= 0x01
    return PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize(
    "byte", [16, 20, 28, 30, -16, -1], ids=["nonce", "nonce2", "body", "body2", "tag", "tag-end"]
)
def test_any_flipped_bit_is_detected(key: DataKey, byte: int) -> None:
    sealed = seal_value("Where is my order?", key, PLACE)
    with pytest.raises(TamperedCiphertext):
        open_value(_flip(sealed, byte), key, PLACE)


def test_a_flipped_key_id_names_a_key_that_did_not_seal_it(key: DataKey) -> None:
    sealed = seal_value("x", key, PLACE)
    assert key_id_of(_flip(sealed, 3)) != key.key_id
    with pytest.raises(TamperedCiphertext):
        open_value(_flip(sealed, 3), key, PLACE)


@pytest.mark.parametrize(
    "broken",
    [
        "tl1:",
        "tl1:AAAA",  # truncated
        "tl1:not base64 at all!",
        "tl1:" + "+/+/" * 20,  # the standard alphabet is not base64url
        "tl2:" + "A" * 80,
        "Where is my order?",
    ],
)
def test_malformed_values_are_refused_with_their_place(key: DataKey, broken: str) -> None:
    with pytest.raises(TamperedCiphertext, match=PLACE):
        open_value(broken, key, PLACE)


def test_truncating_a_real_value_is_detected(key: DataKey) -> None:
    sealed = seal_value("Where is my order?", key, PLACE)
    for cut in (1, 4, 10):
        with pytest.raises(TamperedCiphertext):
            open_value(sealed[:-cut], key, PLACE)


def test_only_prefixed_strings_count_as_sealed() -> None:
    assert not is_sealed("tanaka@example.com") and not is_sealed(None) and not is_sealed(42)
    assert is_sealed("tl1:x")
