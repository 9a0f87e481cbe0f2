"""Schema validation names every failing field by JSON pointer."""

from __future__ import annotations

from typing import Any

import pytest

from events.catalog import load_catalog
from events.validation import MAX_PROBLEMS, SchemaValidator
from tests import samples


@pytest.fixture(scope="module")
def validator() -> SchemaValidator:
    return SchemaValidator(load_catalog())


def pointers(validator: SchemaValidator, event: Any) -> list[str]:
    return [p.pointer for p in validator.problems(event)]


def test_valid_samples_pass(validator: SchemaValidator) -> None:
    for event in samples.batch(3):
        assert validator.problems(event) == []


def test_every_problem_is_named_not_only_the_first(validator: SchemaValidator) -> None:
    event = samples.call_completed(
        payload={"direction": "sideways", "duration_s": "long", "disposition": "resolved", "x": 1}
    )
    assert pointers(validator, event) == [
        "/payload/call_id",
        "/payload/direction",
        "/payload/duration_s",
        "/payload/x",
    ]


def test_missing_and_unexpected_fields_point_at_the_field(validator: SchemaValidator) -> None:
    event = samples.without(samples.chat_message(), "source")
    event["colour"] = "blue"
    assert pointers(validator, event) == ["/colour", "/source"]


def test_unknown_type_and_version(validator: SchemaValidator) -> None:
    unknown = validator.problems(samples.call_completed(type="fax.received"))
    assert unknown[0].pointer == "/type" and "unknown event type" in unknown[0].message
    version = validator.problems(samples.call_completed(schema_version=3))
    assert version[0].pointer == "/schema_version" and "[1, 2]" in version[0].message


def test_unknown_type_still_reports_envelope_problems(validator: SchemaValidator) -> None:
    event = samples.without(samples.call_completed(type="nope.x"), "occurred_at")
    assert pointers(validator, event) == ["/type", "/occurred_at"]


@pytest.mark.parametrize("value", [[], "text", 3, None, True])
def test_non_objects_are_refused_as_a_whole(validator: SchemaValidator, value: Any) -> None:
    [problem] = validator.problems(value)
    assert problem.pointer == ""
    assert "JSON object" in problem.message


def test_pointer_escapes_slashes(validator: SchemaValidator) -> None:
    event = samples.chat_message()
    event["payload"]["a/b~c"] = 1
    assert "/payload/a~1b~0c" in pointers(validator, event)


def test_decimal_amounts_are_strings(validator: SchemaValidator) -> None:
    event = samples.purchase_v1(schema_version=2)
    event["payload"] = {
        "order_id": "o",
        "amount": 12.5,
        "currency": "USD",
        "items": [],
        "channel": "online",
    }
    assert pointers(validator, event) == ["/payload/amount"]


def test_unknown_identity_kinds_are_one_problem_found_before_anything_else(
    validator: SchemaValidator,
) -> None:
    event = samples.call_completed()
    event["identities"] = {f"k{n}": "x" for n in range(80_000)} | {"email": "a@x.io"}
    event["payload"] = {"nonsense": True}  # not even looked at
    problems = validator.problems(event)  # a set difference, not 80,000 errors
    assert len(problems) == 1 and problems[0].pointer == "/identities"
    assert "'k0', 'k1'" in problems[0].message and "79995 more" in problems[0].message


def test_a_flood_of_unexpected_fields_reports_the_first_hundred(
    validator: SchemaValidator,
) -> None:
    event = samples.chat_message()
    event["payload"] |= {f"extra{n}": n for n in range(5_000)}
    problems = validator.problems(event)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message == f"and more: only the first {MAX_PROBLEMS} are shown"
