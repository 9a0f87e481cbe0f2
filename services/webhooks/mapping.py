"""From a provider's events to Touchline envelopes: ids, checks, and what was left unmapped.

Event ids are UUIDv5 of (provider, connector, the provider's own event key, Touchline type),
so a provider's retry, or a replay of a stored delivery, gives the same ids, and a changed
mapping keeps the ids of what it still produces. Every envelope is checked against its
schema here; one that does not fit is reported as unmapped instead of failing the delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from events.catalog import load_catalog
from events.identities import IdentityError, normalize_email, normalize_identities, normalize_phone
from events.timestamps import format_instant
from events.validation import SchemaValidator
from services.webhooks.delivery import RawDelivery

NAMESPACE = uuid.UUID("3f6c2a1e-8d4b-5c7a-9e21-7b0d4f5a6c38")
#: the schema version the webhook mappings write for each type (1 where not named)
WRITTEN_VERSIONS = {"call.completed": 2, "purchase.completed": 2}
Envelope = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unmapped:
    """An item of a delivery that gave no touchpoint: kept and counted, never refused."""

    kind: str
    reason: str


@dataclass(frozen=True)
class Mapped:
    """What one delivery gave, under one mapping version."""

    mapping_version: str
    envelopes: tuple[Envelope, ...]
    unmapped: tuple[Unmapped, ...]


def event_id(provider: str, connector_id: str, key: str, type_: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{provider}|{connector_id}|{key}|{type_}"))


@cache
def _validator() -> SchemaValidator:
    return SchemaValidator(load_catalog())


class Collector:
    """Gathers one delivery's envelopes and unmapped items."""

    def __init__(self, delivery: RawDelivery, mapping_version: str, checked: bool = True) -> None:
        self.delivery = delivery
        self.mapping_version = mapping_version
        self.checked = checked
        self._envelopes: list[Envelope] = []
        self._unmapped: list[Unmapped] = []

    def skip(self, kind: str, reason: str) -> None:
        self._unmapped.append(Unmapped(kind, reason))

    def add(
        self,
        type_: str,
        key: str,
        occurred_at: datetime,
        identities: Mapping[str, str],
        payload: Mapping[str, Any],
        conversation_id: str | None = None,
    ) -> None:
        """Add one envelope; ``key`` is the provider's own id for the event it stands for."""
        if not identities:
            self.skip(type_, "names no customer identifier Touchline can use")
            return
        envelope: Envelope = {
            "event_id": event_id(self.delivery.provider, self.delivery.connector_id, key, type_),
            "type": type_,
            "schema_version": WRITTEN_VERSIONS.get(type_, 1),
            "occurred_at": format_instant(occurred_at),
            "source": self.delivery.provider,
            "identities": dict(identities),
            "payload": dict(payload),
        }
        if conversation_id is not None:
            envelope["conversation_id"] = conversation_id
        problem = _problem(envelope) if self.checked else ""
        if problem:
            self.skip(type_, problem)
        else:
            self._envelopes.append(envelope)

    def result(self) -> Mapped:
        return Mapped(self.mapping_version, tuple(self._envelopes), tuple(self._unmapped))


def _problem(envelope: Envelope) -> str:
    """Where the envelope does not fit, by JSON pointer only: the messages would quote the
    offending values, which may be personal data, into a reason that is kept and counted."""
    problems = _validator().problems(envelope)
    if not problems:
        _, problems = normalize_identities(envelope["identities"], "ZZ")
    if not problems:
        return ""
    where = ", ".join(sorted({p.pointer or "/" for p in problems}))
    return f"does not fit {envelope['type']} v{envelope['schema_version']} at {where}"


# -- values as the schemas want them -------------------------------------------------


def clip(value: object, limit: int) -> str | None:
    """Text trimmed and cut to ``limit`` characters; None for nothing."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] if text else None


def as_dict(value: object) -> dict[str, Any]:
    """A nested object of a provider's payload, or an empty one where it sent something else."""
    return value if isinstance(value, dict) else {}


def compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that have a value (the schemas have no nulls where a field may be left out)."""
    return {name: value for name, value in fields.items() if value is not None}


def email_or_none(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return normalize_email(value)
    except IdentityError:
        return None


def phone_or_none(value: object) -> str | None:
    """E.164 only: a provider's number without a country code cannot be placed safely."""
    if not isinstance(value, str) or not value.strip().startswith("+"):
        return None
    try:
        return normalize_phone(value.strip(), "ZZ")
    except IdentityError:
        return None
