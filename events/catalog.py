"""The catalog of touchpoint types, loaded from the versioned JSON Schemas in ``schemas/``.

The schema files are the contract with publishers; this module only reads
them. Custom keywords carry what the code needs besides validation:
``x-channel`` (the channel a type belongs to), ``x-channel-by-payload`` (for
types whose channel depends on the payload, e.g. a purchase in store or
online) and ``x-pii`` (fields holding personal data, for masking and erasure).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from events.resources import schemas_root

CHANNELS = ("phone", "sms", "chat", "email", "store", "web", "social", "account")
IDENTITY_KINDS = ("customer_ref", "email", "phone", "loyalty_id", "device_id", "social")

JsonSchema = dict[str, Any]


class CatalogError(RuntimeError):
    """The schema files are inconsistent (a developer error, caught at start-up)."""


@dataclass(frozen=True)
class EventType:
    """One touchpoint type with all its schema versions."""

    name: str
    payload_schemas: Mapping[int, JsonSchema]

    @property
    def latest_version(self) -> int:
        return max(self.payload_schemas)

    @property
    def versions(self) -> list[int]:
        return sorted(self.payload_schemas)

    @property
    def description(self) -> str:
        return str(self.payload_schemas[self.latest_version].get("description", ""))

    def channel_for(self, payload: Mapping[str, Any]) -> str:
        """The channel of an event of this type, given its payload at the latest version."""
        schema = self.payload_schemas[self.latest_version]
        rule = schema.get("x-channel-by-payload")
        if rule:
            return str(rule["values"].get(payload.get(rule["field"]), rule["default"]))
        return str(schema["x-channel"])

    def allowed_channels(self) -> set[str]:
        schema = self.payload_schemas[self.latest_version]
        rule = schema.get("x-channel-by-payload")
        if rule:
            return {*rule["values"].values(), rule["default"]}
        return {str(schema["x-channel"])}

    def pii_pointers(self, version: int) -> list[str]:
        """JSON pointers (from the envelope root) of the payload fields marked ``x-pii``."""
        return [f"/payload{p}" for p in _pii_paths(self.payload_schemas[version], "")]


def _pii_paths(schema: Mapping[str, Any], prefix: str) -> Iterator[str]:
    for name, sub in schema.get("properties", {}).items():
        if sub.get("x-pii"):
            yield f"{prefix}/{name}"
        elif _may_be_object(sub):
            yield from _pii_paths(sub, f"{prefix}/{name}")


def _may_be_object(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


@dataclass(frozen=True)
class Catalog:
    """Every known type, and the envelope schema they share."""

    envelope_schema: JsonSchema
    types: Mapping[str, EventType]

    def get(self, name: str) -> EventType | None:
        return self.types.get(name)

    def full_schema(self, name: str, version: int) -> JsonSchema:
        """The envelope schema with ``type``, ``schema_version`` and ``payload`` pinned."""
        schema = copy.deepcopy(self.envelope_schema)
        props = schema["properties"]
        props["type"] = {"const": name}
        props["schema_version"] = {"const": version}
        props["payload"] = self.types[name].payload_schemas[version]
        schema["$id"] = f"touchline:full/{name}/v{version}"
        return schema

    def identity_pii_kinds(self) -> list[str]:
        props = self.envelope_schema["properties"]["identities"]["properties"]
        return [kind for kind, sub in props.items() if sub.get("x-pii")]


@cache
def load_catalog(root: Path | None = None) -> Catalog:
    """Read ``schemas/envelope/v1.json`` and ``schemas/events/<type>/v<N>.json``."""
    root = root or schemas_root()
    envelope = orjson.loads((root / "envelope" / "v1.json").read_bytes())
    types: dict[str, EventType] = {}
    for type_dir in sorted((root / "events").iterdir()):
        versions = {int(f.stem[1:]): orjson.loads(f.read_bytes()) for f in type_dir.glob("v*.json")}
        if not versions or sorted(versions) != list(range(1, len(versions) + 1)):
            raise CatalogError(f"{type_dir}: versions must be v1..vN, found {sorted(versions)}")
        types[type_dir.name] = EventType(type_dir.name, versions)
    return Catalog(envelope, types)
