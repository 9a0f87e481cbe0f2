"""Tenant-declared custom attributes of a customer profile, and checking values against them.

A profile's ``attributes`` (``customer.profile_updated``) hold what a tenant's business tracks
beyond the built-in fields (a loyalty tier, a store of registration, a points balance). The
schema only says their names' shape; what each one is, the tenant declares, so a typo in a
name or a number sent as text is refused at the door instead of splitting one attribute
into two in the tables. ``null`` is always allowed: it clears the attribute.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from events.problems import Problem, pointer

AttributeType = Literal["string", "number", "integer", "boolean", "date", "enum"]
TYPES: tuple[AttributeType, ...] = get_args(AttributeType)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # the schema's propertyNames
MAX_ENUM_VALUES = 200
MAX_STRING = 1024
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DeclarationError(ValueError):
    """A declaration cannot be stored (bad name, unknown type, enum without values)."""


@dataclass(frozen=True)
class Declaration:
    name: str
    type: AttributeType
    values: tuple[str, ...] = ()  # enum only

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise DeclarationError(f"attribute name must match {NAME.pattern}, not {self.name!r}")
        if self.type not in TYPES:
            raise DeclarationError(f"type must be one of {', '.join(TYPES)}, not {self.type!r}")
        if self.type == "enum":
            _check_enum(self.values)
        elif self.values:
            raise DeclarationError("only an enum attribute lists values")

    def describe(self) -> str:
        return f"enum({', '.join(self.values)})" if self.type == "enum" else self.type

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not one of this attribute's values (None: it is, or it is null)."""
        if value is None or _fits(self, value):
            return None
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:79] + "…"
        return f"attribute {self.name!r} is declared {self.describe()}: {shown} is not"


def _check_enum(values: tuple[str, ...]) -> None:
    if not values:
        raise DeclarationError("an enum attribute needs its values (--values a,b,c)")
    if len(values) > MAX_ENUM_VALUES:
        raise DeclarationError(f"an enum has at most {MAX_ENUM_VALUES} values")
    if any(not v or len(v) > MAX_STRING for v in values) or len(set(values)) != len(values):
        raise DeclarationError("enum values must be distinct, non-empty strings")


def _fits(declared: Declaration, value: object) -> bool:
    kind = declared.type
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):  # JSON true is not the number 1
        return False
    if kind == "number":
        return isinstance(value, int | float)
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if not isinstance(value, str):
        return False
    if kind == "date":
        return _is_date(value)
    if kind == "enum":
        return value in declared.values
    return len(value) <= MAX_STRING


def _is_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


class AttributeRules(Protocol):
    """What a tenant has declared (the intake asks once per event that carries attributes)."""

    def declared(self, tenant: str) -> Mapping[str, Declaration]: ...


def attribute_problems(
    attributes: Mapping[str, object], declared: Mapping[str, Declaration]
) -> list[Problem]:
    """Every undeclared attribute and every value of the wrong type, pointed at in the event."""
    problems = []
    for name, value in attributes.items():
        at = pointer("payload", "attributes", name)
        found = declared.get(name)
        if found is None:
            known = ", ".join(sorted(declared)[:20]) or "none"
            problems.append(
                Problem(
                    at,
                    f"attribute {name[:64]!r} is not declared for this tenant "
                    f"(declared: {known}; see touchline attributes declare)",
                )
            )
        elif (why := found.problem(value)) is not None:
            problems.append(Problem(at, why))
    return problems
