"""The KEK keyring: wrapping bound to its row, the text form, rotation steps."""

from __future__ import annotations

import os

import pytest

from events.privacy.errors import RootKeyError
from events.privacy.kek import Keyring


def test_wrapped_material_unwraps_only_in_its_context() -> None:
    keyring = Keyring.generate()
    material = os.urandom(32)
    version, wrapped = keyring.wrap(material, b"row-1")
    assert version == 1 and material not in wrapped
    assert keyring.unwrap(version, wrapped, b"row-1") == material
    with pytest.raises(RootKeyError, match="copied to another row"):
        keyring.unwrap(version, wrapped, b"row-2")


def test_the_text_form_round_trips_and_ignores_comments() -> None:
    keyring = Keyring.generate().with_new_version()
    text = "# root keys\n\n" + keyring.dumps()
    again = Keyring.parse(text)
    assert again.versions == (1, 2) and again.current == 2
    _, wrapped = keyring.wrap(b"k" * 32, b"c")
    assert again.unwrap(2, wrapped, b"c") == b"k" * 32
    assert Keyring.parse(keyring.dumps().replace("\n", ",")).versions == (1, 2)


@pytest.mark.parametrize("text", ["", "# nothing", "1:short", "x:AAAA", "0:" + "A" * 43, "1:***"])
def test_bad_text_is_refused_without_echoing_a_key(text: str) -> None:
    with pytest.raises(RootKeyError) as caught:
        Keyring.parse(text)
    assert "A" * 20 not in str(caught.value)


def test_rotation_adds_a_current_version_and_retires_old_ones() -> None:
    old = Keyring.generate()
    _, wrapped = old.wrap(b"m" * 32, b"c")
    rotated = old.with_new_version()
    assert rotated.current == 2 and rotated.wrap(b"m" * 32, b"c")[0] == 2
    assert rotated.unwrap(1, wrapped, b"c") == b"m" * 32
    retired = rotated.without(1)
    with pytest.raises(RootKeyError, match="no KEK version 1"):
        retired.unwrap(1, wrapped, b"c")
    with pytest.raises(RootKeyError, match="is current"):
        retired.without(2)


def test_another_root_key_does_not_unwrap() -> None:
    _, wrapped = Keyring.generate().wrap(b"m" * 32, b"c")
    with pytest.raises(RootKeyError, match="does not unwrap"):
        Keyring.generate().unwrap(1, wrapped, b"c")
