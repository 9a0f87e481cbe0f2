"""A customer master's row to one ``customer.profile_updated`` event (and its consent events).

A cell that says nothing leaves its field out (absent leaves the profile as it is); a row
with any value that cannot be read gives no event at all, and every such value is named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar

from events.attributes import Declaration
from services.imports import values
from services.imports.attribute_values import attribute_value
from services.imports.dates import DateProblem, parse_birthday, parse_instant
from services.imports.header import Record
from services.imports.mapping import JOINED_TARGETS, Consent, CustomerMapping
from services.imports.regions import country_code
from services.imports.rows import Converted, EventContext, bind, envelope

Cells = list[tuple[str, str]]  # (column, cleaned text) in file order
_NAME_PARTS = ("family", "given", "family_kana", "given_kana", "display")
_ADDRESS = ("postal_code", "region", "city", "line1", "line2", "country")
T = TypeVar("T")
_NONE_DECLARED: Mapping[str, Declaration] = MappingProxyType({})
_JOINED = frozenset(t.partition(".")[2] for t in JOINED_TARGETS)


class CustomerRows:
    """Converts the records of one customer file (a ``RowConverter``)."""

    def __init__(
        self,
        mapping: CustomerMapping,
        columns: Sequence[str],
        context: EventContext,
        strict: bool = False,
        today: dt.date | None = None,
        attributes: Mapping[str, Declaration] = _NONE_DECLARED,
    ) -> None:
        self.mapping = mapping
        self.attributes = attributes
        self.context = context
        self.targets = bind(mapping.columns, columns, strict, mapping.name)
        self.consents: list[tuple[str, Consent]] = bind(
            mapping.consent, columns, False, mapping.name
        )
        self.today = today or dt.date.today()
        self.region = context.region
        order = mapping.options.name_order
        self.family_first = order == "family_given" if order else self.region == "JP"

    def knows(self, key: str) -> bool:
        return self.mapping.knows(key)

    def convert(self, record: Record) -> Converted:
        row = Converted(record.number)
        cells = self._cells(record, row)
        consents = self._consent_cells(record, row)
        if not cells and not consents and not row.problems:
            row.blank = True
            return row
        listed = {t: self._list(cells, t, row) for t in ("email", "phone")}
        ids = self._identities(cells, listed, row)
        payload = self._payload(cells, listed, row)
        at = self._occurred_at(cells, row)
        if not ids and not row.problems:
            row.refuse("", "no identifier: a row needs a customer_ref, email, phone or loyalty_id")
        if ids and not payload and not consents and not row.problems:
            row.refuse("", "nothing to import besides the identifier")
        if row.problems:
            return row
        if payload:
            row.events.append(envelope(self.context, "customer.profile_updated", at, ids, payload))
        row.events += [self._consent_event(c, yes, at, ids) for c, yes in consents]
        return row

    def _cells(self, record: Record, row: Converted) -> dict[str, Cells]:
        cells: dict[str, Cells] = {}
        for column, target in self.targets:
            raw = record.values.get(column)
            if raw is None:
                continue
            try:
                text = values.clean(raw)
            except values.ValueProblem as exc:
                row.refuse(column, str(exc))
                continue
            if text is not None:
                cells.setdefault(target, []).append((column, text))
        return cells

    def _consent_cells(self, record: Record, row: Converted) -> list[tuple[Consent, bool]]:
        out = []
        for column, consent in self.consents:
            raw = record.values.get(column)
            try:
                text = values.clean(raw) if raw else None
                if text is not None:
                    out.append((consent, values.yes_no(text) != consent.negated))
            except values.ValueProblem as exc:
                row.refuse(column, str(exc))
        return out

    @staticmethod
    def _identities(
        cells: dict[str, Cells], listed: dict[str, list[str]], row: Converted
    ) -> dict[str, str]:
        """The master's own ids and the first email and phone.

        The schema says a profile's ``emails`` and ``phones`` link as the master's word, but the
        identity stage links envelope identities only today; carrying the first of each costs
        intake a second parse of the phone number (about a tenth of the conversion).
        """
        ids: dict[str, str] = {}
        for kind in ("customer_ref", "loyalty_id"):
            if kind in cells:
                column, ids[kind] = cells[kind][0]
                row.sources[f"/identities/{kind}"] = column
        for kind, found in listed.items():
            if found:
                ids[kind] = found[0]
        return ids

    def _list(self, cells: dict[str, Cells], target: str, row: Converted) -> list[str]:
        """Emails or phones in column order, each once; national numbers in the row's country."""
        region = self._row_country(cells) or self.region
        normalize: Callable[[str], str] = (
            values.email if target == "email" else lambda t: values.phone(t, region)
        )
        out: list[str] = []
        for column, text in cells.get(target, ()):
            value = _read(normalize, column, text, row)
            if value is not None and value not in out:
                row.sources.setdefault(f"/identities/{target}", column)
                row.sources[f"/payload/{target}s/{len(out)}"] = column
                out.append(value)
        return out

    @staticmethod
    def _row_country(cells: dict[str, Cells]) -> str | None:
        """The address's country, when the row names one this import knows (else the region)."""
        if "address.country" not in cells:
            return None
        return country_code(cells["address.country"][0][1])

    def _payload(
        self, cells: dict[str, Cells], listed: dict[str, list[str]], row: Converted
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {f"{t}s": found for t, found in listed.items() if found}
        if name := self._name(cells, row):
            payload["name"] = name
        if address := self._address(cells, row):
            payload["address"] = address
        for field, read in self._scalars().items():
            if field in cells:
                column, text = cells[field][0]
                row.sources[f"/payload/{field}"] = column
                value = _read(read, column, text, row)
                if value is not None:
                    payload[field] = value
        if attributes := self._attributes(cells, row):
            payload["attributes"] = attributes
        return payload

    def _attributes(self, cells: dict[str, Cells], row: Converted) -> dict[str, Any]:
        order, out = self.mapping.options.date_order, {}
        for target, found in cells.items():
            if target.startswith("attributes."):
                key = target.partition(".")[2]
                column, text = found[0]
                row.sources[f"/payload/attributes/{key}"] = column
                declared = self.attributes.get(key)
                read = partial(attribute_value, declared=declared, order=order)
                value = _read(read, column, text, row)
                if value is not None:
                    out[key] = value
        return out

    def _scalars(self) -> dict[str, Callable[[str], str]]:
        order, today = self.mapping.options.date_order, self.today
        return {
            "birthday": lambda t: parse_birthday(t, order, today),
            "company": str,
            "preferred_language": values.language,
        }

    def _name(self, cells: dict[str, Cells], row: Converted) -> dict[str, str]:
        name: dict[str, str] = {}
        for part in _NAME_PARTS:
            if f"name.{part}" in cells:
                column, name[part] = cells[f"name.{part}"][0]
                row.sources[f"/payload/name/{part}"] = column
        self._split_full(cells, "name.full", ("family", "given"), name, row)
        self._split_full(cells, "name.full_kana", ("family_kana", "given_kana"), name, row)
        return name

    def _split_full(
        self,
        cells: dict[str, Cells],
        target: str,
        parts: tuple[str, str],
        name: dict[str, str],
        row: Converted,
    ) -> None:
        """``山田 花子`` in one column: family and given, in the mapping's name order."""
        if target not in cells or any(p in name for p in parts):
            return
        column, text = cells[target][0]
        words = text.split(" ", 1)
        if len(words) == 2:
            first, second = words if self.family_first else reversed(words)
            name[parts[0]], name[parts[1]] = first, second
            row.sources.update({f"/payload/name/{p}": column for p in parts})
        elif target == "name.full":
            name.setdefault("display", text)
            row.sources["/payload/name/display"] = column
        else:
            row.refuse(
                column, f"{text!r}: put a space between the family and the given name's reading"
            )

    def _address(self, cells: dict[str, Cells], row: Converted) -> dict[str, str]:
        found = {p: cells[f"address.{p}"] for p in _ADDRESS if f"address.{p}" in cells}
        if not found:
            return {}
        address: dict[str, str] = {}
        if "country" in found:
            column, text = found.pop("country")[0]
            if (code := _read(values.country, column, text, row)) is not None:
                address["country"] = code
        elif self.region:
            address["country"] = self.region
        for part, listed in found.items():
            row.sources[f"/payload/address/{part}"] = listed[0][0]
            value = _address_part(part, listed, address.get("country"), row)
            if value is not None:
                address[part] = value
        return address

    def _occurred_at(self, cells: dict[str, Cells], row: Converted) -> str:
        if "updated_at" not in cells:
            return self.context.occurred_at
        column, text = cells["updated_at"][0]
        row.sources["/occurred_at"] = column
        zone = self.mapping.options.timezone
        return _read(lambda t: parse_instant(t, zone), column, text, row) or ""

    def _consent_event(
        self, consent: Consent, yes: bool, at: str, ids: dict[str, str]
    ) -> dict[str, Any]:
        payload = {
            "channel": consent.channel,
            "purpose": consent.purpose,
            "proof": {"captured_by": self.context.source[:128]},
        }
        kind = "consent.granted" if yes else "consent.withdrawn"
        return envelope(self.context, kind, at, ids, payload)


def _address_part(part: str, listed: Cells, country: str | None, row: Converted) -> str | None:
    column, text = listed[0]
    if part in _JOINED:
        return " ".join(t for _, t in listed)
    if part == "postal_code":
        return _read(lambda t: values.postal_code(t, country), column, text, row)
    if part == "region":
        return _read(lambda t: values.region(t, country), column, text, row)
    return text


def _read(read: Callable[[str], T], column: str, text: str, row: Converted) -> T | None:
    try:
        return read(text)
    except (values.ValueProblem, DateProblem) as exc:
        row.refuse(column, str(exc))
        return None
