"""Schema validation of incoming events.

Validation runs on every event at ingest, so the fast path matters: each
(type, version) schema is compiled to Python with fastjsonschema (about 10x
jsonschema's speed here). fastjsonschema stops at the first error, so when an
event fails, jsonschema re-validates it to name *every* failing field by JSON
pointer. Valid events never pay for the second validator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema
import jsonschema

from events.catalog import Catalog
from events.problems import Problem, pointer

_FastCheck = Callable[[Any], Any]
#: problems reported per event: enough to fix a batch, too few to amplify a hostile one
MAX_PROBLEMS = 100


class SchemaValidator:
    """Checks an event's shape against the schema of its type and version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._fast: dict[tuple[str, int], _FastCheck] = {}
        self._full: dict[tuple[str, int], jsonschema.Draft7Validator] = {}
        for name, event_type in catalog.types.items():
            for version in event_type.versions:
                schema = catalog.full_schema(name, version)
                self._fast[(name, version)] = fastjsonschema.compile(schema)
                self._full[(name, version)] = jsonschema.Draft7Validator(schema)
        self._envelope = jsonschema.Draft7Validator(catalog.envelope_schema)
        identities = catalog.envelope_schema["properties"]["identities"]["properties"]
        self.identity_kinds = frozenset(identities)

    def problems(self, event: object) -> list[Problem]:
        """Every schema problem of ``event``; an empty list means valid."""
        if not isinstance(event, dict):
            return [Problem("", f"an event must be a JSON object, got {_json_type(event)}")]
        unknown = self._unknown_kinds(event.get("identities"))
        if unknown is not None:
            return [unknown]
        key = self._type_key(event)
        if isinstance(key, Problem):
            return [key, *self._envelope_problems(event)]
        try:
            self._fast[key](event)
        except fastjsonschema.JsonSchemaValueException:
            return self._all_problems(self._full[key], event)
        return []

    def _unknown_kinds(self, identities: object) -> Problem | None:
        """Unknown identity kinds, named once before any other check: an event with 80,000
        of them must cost a set difference, not 80,000 validation errors."""
        if not isinstance(identities, dict):
            return None
        unknown = identities.keys() - self.identity_kinds
        if not unknown:
            return None
        named = ", ".join(repr(k[:40]) for k in sorted(unknown)[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return Problem(
            "/identities",
            f"unknown identity kinds {named}{more} (known: {', '.join(sorted(self.identity_kinds))})",
        )

    def _type_key(self, event: Mapping[str, Any]) -> tuple[str, int] | Problem:
        name = event.get("type")
        if not isinstance(name, str):
            return Problem("/type", "required: a string such as 'call.completed'")
        event_type = self.catalog.get(name)
        if event_type is None:
            return Problem("/type", f"unknown event type {name!r}")
        version = event.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int):
            return Problem("/schema_version", "required: an integer version of the type's schema")
        if version not in event_type.payload_schemas:
            return Problem(
                "/schema_version",
                f"{name} has schema versions {event_type.versions}, not {version}",
            )
        return (name, version)

    def _envelope_problems(self, event: Mapping[str, Any]) -> list[Problem]:
        found = self._all_problems(self._envelope, event)
        return [p for p in found if p.pointer not in ("/type", "/schema_version")]

    @staticmethod
    def _all_problems(validator: jsonschema.Draft7Validator, event: Any) -> list[Problem]:
        seen: dict[str, Problem] = {}
        for error in validator.iter_errors(event):
            for problem in _explain(error):
                seen.setdefault(problem.pointer + problem.message, problem)
            if len(seen) >= MAX_PROBLEMS:
                found = sorted(seen.values(), key=lambda p: p.pointer)[:MAX_PROBLEMS]
                return [*found, Problem("", f"and more: only the first {MAX_PROBLEMS} are shown")]
        return sorted(seen.values(), key=lambda p: p.pointer)


def _explain(error: jsonschema.ValidationError) -> list[Problem]:
    """Point at the field itself, not its parent, for missing and unexpected fields."""
    base = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [n for n in error.validator_value if n not in instance]
        return [Problem(pointer(*base, n), "required field is missing") for n in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = [n for n in instance if n not in known][:MAX_PROBLEMS]
        return [Problem(pointer(*base, n), "unexpected field (not in the schema)") for n in extra]
    if error.validator == "pattern" and "description" in error.schema:
        return [
            Problem(
                pointer(*base),
                f"{_short(repr(instance), 80)} is not valid: {error.schema['description']}",
            )
        ]
    if error.validator == "minProperties" and error.validator_value == 1:
        return [Problem(pointer(*base), "must not be empty")]
    return [Problem(pointer(*base), _short(error.message))]


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(
        type(value), "a number" if isinstance(value, int | float) else "something else"
    )
