"""Rows of interaction history (visits, purchases, calls ...) to touchpoints of one catalogued type.

    type = "store.visited"
    occurred_at = "来店日時"
    timezone = "Asia/Tokyo"
    region = "JP"
    [identities]
    "会員番号" = "customer_ref"
    [payload]
    "店舗コード" = "store_id"
    "滞在時間(秒)" = "duration_s"

Payload cells are read as the type's schema says the field is (integer, number, boolean,
string); a dotted field (``a.b``) fills a nested object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from events.catalog import IDENTITY_KINDS, Catalog
from services.imports import values
from services.imports.dates import DateProblem, parse_instant
from services.imports.errors import MappingError
from services.imports.header import Record, column_key
from services.imports.mapping import Options, options
from services.imports.rows import Converted, EventContext, bind, envelope

JsonSchema = Mapping[str, Any]


@dataclass(frozen=True)
class HistoryMapping:
    name: str
    type: str
    occurred_at: str  # column key
    identities: Mapping[str, str]  # column key -> identity kind
    payload: Mapping[str, tuple[str, JsonSchema]]  # column key -> (field path, its schema)
    options: Options

    def knows(self, key: str) -> bool:
        return key == self.occurred_at or key in self.identities or key in self.payload


def history_mapping(data: Mapping[str, Any], name: str, catalog: Catalog) -> HistoryMapping:
    type_ = data.get("type")
    event_type = catalog.get(str(type_))
    if event_type is None:
        raise MappingError(f"{name}: type {type_!r} is not a catalogued event type")
    if not isinstance(data.get("occurred_at"), str):
        raise MappingError(f"{name}: occurred_at must name the column with the event time")
    identities = _strings(data, "identities", name)
    for column, kind in identities.items():
        if kind not in IDENTITY_KINDS:
            raise MappingError(
                f"{name}: [identities] {column!r}: {kind!r} is not one of {', '.join(IDENTITY_KINDS)}"
            )
    schema = event_type.payload_schemas[event_type.latest_version]
    payload = {
        column_key(c): (f, _field_schema(schema, f, name))
        for c, f in _strings(data, "payload", name).items()
    }
    keyed_ids = {column_key(c): k for c, k in identities.items()}
    return HistoryMapping(
        name,
        event_type.name,
        column_key(data["occurred_at"]),
        keyed_ids,
        payload,
        options(data, name),
    )


def _strings(data: Mapping[str, Any], key: str, name: str) -> dict[str, str]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise MappingError(f"{name}: [{key}] must map column names to names")
    if not table:
        raise MappingError(f"{name}: [{key}] maps no column")
    return table


def _field_schema(schema: JsonSchema, path: str, name: str) -> JsonSchema:
    for part in path.split("."):
        properties = schema.get("properties", {})
        if part not in properties:
            raise MappingError(
                f"{name}: [payload] {path!r}: no field {part!r} (known: {', '.join(properties)})"
            )
        schema = properties[part]
    return schema


class HistoryRows:
    """Converts the records of one history file (a ``RowConverter``)."""

    def __init__(
        self, mapping: HistoryMapping, columns: Sequence[str], context: EventContext
    ) -> None:
        self.mapping = mapping
        self.context = context
        self.region = context.region
        wanted = {
            mapping.occurred_at: ("occurred_at", None),
            **{k: ("id", v) for k, v in mapping.identities.items()},
            **{k: ("payload", v) for k, v in mapping.payload.items()},
        }
        self.columns = bind(wanted, columns, True, mapping.name)

    def knows(self, key: str) -> bool:
        return self.mapping.knows(key)

    def convert(self, record: Record) -> Converted:
        row = Converted(record.number)
        at, ids, payload = "", dict[str, str](), dict[str, Any]()
        for column, (role, spec) in self.columns:
            text = self._text(record, column, row)
            if text is None:
                continue
            if role == "occurred_at":
                at = self._time(column, text, row)
            elif role == "id":
                ids[spec] = text
                row.sources[f"/identities/{spec}"] = column
            else:
                self._set(payload, column, text, spec, row)
        if not at and not ids and not payload and not row.problems:
            row.blank = True
        elif not row.problems:
            if not at:
                row.refuse("", "no event time (its column is empty)")
            elif not ids:
                row.refuse("", "no identifier")
            else:
                row.events.append(envelope(self.context, self.mapping.type, at, ids, payload))
        return row

    @staticmethod
    def _text(record: Record, column: str, row: Converted) -> str | None:
        raw = record.values.get(column)
        try:
            return values.clean(raw) if raw else None
        except values.ValueProblem as exc:
            row.refuse(column, str(exc))
            return None

    def _time(self, column: str, text: str, row: Converted) -> str:
        row.sources["/occurred_at"] = column
        try:
            return parse_instant(text, self.mapping.options.timezone)
        except DateProblem as exc:
            row.refuse(column, str(exc))
            return ""

    def _set(
        self,
        payload: dict[str, Any],
        column: str,
        text: str,
        spec: tuple[str, JsonSchema],
        row: Converted,
    ) -> None:
        path, schema = spec
        row.sources["/payload/" + path.replace(".", "/")] = column
        try:
            value = typed_value(text, schema)
        except (values.ValueProblem, ValueError) as exc:
            row.refuse(column, str(exc))
            return
        *parents, leaf = path.split(".")
        target = payload
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value


def typed_value(text: str, schema: JsonSchema) -> Any:
    """``text`` as the JSON type ``schema`` declares (a string when it allows one)."""
    kinds = schema.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if "string" in kinds:
        return text
    if "integer" in kinds:
        try:
            return int(text.replace(",", ""))
        except ValueError:
            raise values.ValueProblem(f"{text!r} is not a whole number") from None
    if "number" in kinds:
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            raise values.ValueProblem(f"{text!r} is not a number") from None
        return int(number) if number.is_integer() else number
    if "boolean" in kinds:
        return values.yes_no(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise values.ValueProblem(f"expected JSON for a {'/'.join(kinds)} field") from None
