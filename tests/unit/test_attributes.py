"""Declared custom attributes: declarations, values checked at intake, cells typed by the import."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from events.attributes import Declaration, DeclarationError, attribute_problems
from events.intake import EventIntake
from services.attributes.sqlite import SqliteAttributeStore, read_attribute_rules
from services.imports.attribute_values import attribute_value
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.header import Record
from services.imports.mapping import customer_mapping
from services.imports.rows import EventContext
from services.imports.values import ValueProblem

DECLARED = {
    "tier": Declaration("tier", "enum", ("gold", "silver")),
    "points": Declaration("points", "integer"),
    "spend": Declaration("spend", "number"),
    "vip": Declaration("vip", "boolean"),
    "joined": Declaration("joined", "date"),
    "note": Declaration("note", "string"),
}
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Rules:
    def __init__(self, declared: Mapping[str, Declaration]) -> None:
        self.by_tenant = {"acme": declared}

    def declared(self, tenant: str) -> Mapping[str, Declaration]:
        return self.by_tenant.get(tenant, {})


@cache
def intake() -> EventIntake:
    return EventIntake("JP", attributes=Rules(DECLARED))


def profile(attributes: dict[str, Any], tenant: str = "acme") -> dict[str, Any]:
    return {"tenant": tenant, "type": "customer.profile_updated", "schema_version": 1,
            "occurred_at": "2025-01-01T00:00:00Z", "source": "crm",
            "identities": {"customer_ref": "C1"}, "payload": {"attributes": attributes}}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [("tier", "gold", "GOLD"), ("points", 3, 2.5), ("points", 3.0, True), ("spend", 2.5, "2.5"),
     ("vip", False, 0), ("joined", "2024-02-29", "2023-02-29"), ("joined", "2024-01-02", "2024/1/2"),
     ("note", "hi", 1)],
)  # fmt: skip
def test_values_are_checked_against_their_declared_type(
    name: str, good: object, bad: object
) -> None:
    assert DECLARED[name].problem(good) is None
    assert DECLARED[name].problem(None) is None  # null clears
    why = DECLARED[name].problem(bad)
    assert why is not None and repr(bad) in why and DECLARED[name].describe() in why


def test_intake_names_each_undeclared_or_mistyped_attribute_by_pointer() -> None:
    assert not isinstance(intake().prepare(profile({"tier": "gold", "points": 2}), "acme", NOW), list)  # fmt: skip
    problems = intake().prepare(profile({"tier": "bronze", "colour": "red", "vip": True}), "acme", NOW)  # fmt: skip
    assert isinstance(problems, list)
    by_pointer = {p.pointer: p.message for p in problems}
    assert set(by_pointer) == {"/payload/attributes/tier", "/payload/attributes/colour"}
    assert "not declared for this tenant" in by_pointer["/payload/attributes/colour"]
    other = intake().prepare(profile({"tier": "gold"}, tenant="other"), "other", NOW)
    assert isinstance(other, list) and "declared: none" in other[0].message  # per tenant


def test_events_without_attributes_are_not_asked_about() -> None:
    class Refusing:
        def declared(self, tenant: str) -> Mapping[str, Declaration]:
            raise AssertionError("asked")

    strict = EventIntake("JP", attributes=Refusing())
    event = profile({})
    event["payload"] = {"company": "Acme"}
    assert not isinstance(strict.prepare(event, "acme", NOW), list)


@pytest.mark.parametrize(
    ("args", "says"),
    [(("Tier", "string"), "must match"), (("tier", "colour"), "type must be"),
     (("tier", "enum"), "needs its values"), (("tier", "string", ("a",)), "only an enum"),
     (("tier", "enum", ("a", "a")), "distinct")],
)  # fmt: skip
def test_bad_declarations_are_refused(args: tuple[Any, ...], says: str) -> None:
    with pytest.raises(DeclarationError, match=says):
        Declaration(*args)


def test_a_declaration_in_one_process_is_seen_by_another_at_once(tmp_path: Path) -> None:
    path = tmp_path / "attributes.sqlite3"
    assert read_attribute_rules(path).declared("acme") == {} and not path.exists()
    ingest, command = SqliteAttributeStore(path), SqliteAttributeStore(path)
    assert ingest.declared("acme") == {}
    assert command.declare("acme", Declaration("tier", "enum", ("gold", "a, b")))
    assert ingest.declared("acme")["tier"].values == ("gold", "a, b")  # cache dropped
    assert not command.declare("acme", Declaration("tier", "string"))  # redeclared
    assert ingest.declared("acme")["tier"].type == "string"
    assert ingest.declared("other") == {}
    assert command.remove("acme", "tier") and not command.remove("acme", "tier")
    assert ingest.declared("acme") == {}
    with pytest.raises(DeclarationError):
        command.declare("Not A Tenant", Declaration("tier", "string"))


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [("tier", "ＧＯＬＤ", "gold"), ("points", "1,200", 1200), ("spend", "12.5", 12.5),
     ("vip", "はい", True), ("joined", "令和6年1月2日", "2024-01-02"), ("note", "1,200", "1,200"),
     ("undeclared", "x", "x")],
)  # fmt: skip
def test_cells_become_values_of_the_declared_type(name: str, text: str, value: object) -> None:
    assert attribute_value(text, DECLARED.get(name), "ymd") == value


def test_a_cell_that_is_not_of_its_type_says_so() -> None:
    with pytest.raises(ValueProblem, match="not one of tier's values"):
        attribute_value("bronze", DECLARED["tier"], "ymd")
    with pytest.raises(ValueProblem, match="whole number"):
        attribute_value("many", DECLARED["points"], "ymd")


def test_an_imported_row_with_a_bad_attribute_is_refused_naming_its_column() -> None:
    mapping = customer_mapping({"columns": {"ID": "customer_ref", "Tier": "attributes.tier",
                                            "Points": "attributes.points", "Colour": "attributes.colour"}}, "m")  # fmt: skip
    context = EventContext("acme", "import:x.csv", "2024-05-01T00:00:00.000Z", "JP")
    rows = CustomerRows(mapping, ["ID", "Tier", "Points", "Colour"], context, attributes=DECLARED)
    records = [Record(2, {"ID": "C1", "Tier": "Gold", "Points": "3"}),
               Record(3, {"ID": "C2", "Tier": "gold", "Points": "x"}),
               Record(4, {"ID": "C3", "Tier": "gold", "Colour": "red"})]  # fmt: skip
    good, mistyped, undeclared = convert_records(records, rows, intake(), "acme")
    assert good.problems == [] and good.events[0]["payload"]["attributes"] == {"tier": "gold", "points": 3}  # fmt: skip
    assert [(p.row, p.column) for p in mistyped.problems] == [(3, "Points")]
    assert [(p.row, p.column) for p in undeclared.problems] == [(4, "Colour")]
    assert "not declared" in undeclared.problems[0].problem and undeclared.prepared == []


def test_attribute_problems_lists_at_most_twenty_declared_names() -> None:
    many = {f"a{i:02}": Declaration(f"a{i:02}", "string") for i in range(50)}
    [problem] = attribute_problems({"zz": "x"}, many)
    assert "a19" in problem.message and "a20" not in problem.message
