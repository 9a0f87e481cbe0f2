"""Intake: from what a publisher sent to the exact bytes appended to the log.

The ingest API and the publisher library both call ``EventIntake.prepare``, so
an event is judged the same way whichever door it comes through.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from events.catalog import Catalog, load_catalog
from events.identities import normalize_identities, primary_identity
from events.problems import Problem
from events.timestamps import TimestampError, format_instant, parse_check, parse_instant
from events.touchpoint import encode
from events.upcasting import upcast_payload
from events.validation import SchemaValidator

#: How far ahead of the ingest clock an event may claim to have happened.
MAX_CLOCK_SKEW = timedelta(minutes=15)
_OPTIONAL = ("correlation_id", "conversation_id")


class PreparedEvent(NamedTuple):
    """A valid, normalized event and its Kafka record (a NamedTuple: one is built per event)."""

    event_id: str
    tenant: str
    type: str
    key: bytes
    value: bytes


class IntakeTime(NamedTuple):
    """The ingest clock for one batch, formatted once rather than per event."""

    received_at: str
    horizon: str  # the latest acceptable occurred_at, in canonical form

    @classmethod
    def of(cls, now: datetime) -> IntakeTime:
        return cls(format_instant(now), format_instant(now + MAX_CLOCK_SKEW))


def _occurred_at(text: str, at: IntakeTime, problems: list[Problem]) -> str:
    """Canonical UTC text; already-canonical input (the common case) skips the reformatting."""
    canonical = len(text) == 24 and text[10] == "T" and text[19] == "." and text[23] == "Z"
    try:
        formatted = parse_check(text) if canonical else format_instant(parse_instant(text))
    except TimestampError as exc:
        problems.append(Problem("/occurred_at", str(exc)))
        return ""
    if formatted > at.horizon:  # canonical strings sort as the instants they denote
        problems.append(Problem("/occurred_at", "is in the future (more than 15 min ahead)"))
    return formatted


class EventIntake:
    """Validates, normalizes and serializes events for one deployment's settings."""

    def __init__(self, default_region: str, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or load_catalog()
        self.validator = SchemaValidator(self.catalog)
        self.default_region = default_region

    def prepare_batch(
        self, raws: list[object], tenant: str, now: datetime
    ) -> list[PreparedEvent | list[Problem]]:
        """Judge each event of a batch; all of them get the same ``received_at``."""
        at = IntakeTime.of(now)
        return [self._prepare(raw, tenant, at) for raw in raws]

    def prepare(self, raw: object, tenant: str, now: datetime) -> PreparedEvent | list[Problem]:
        """Judge one event; ``tenant`` fills the envelope when the publisher left it out."""
        return self._prepare(raw, tenant, IntakeTime.of(now))

    def _prepare(self, raw: object, tenant: str, at: IntakeTime) -> PreparedEvent | list[Problem]:
        problems = self.validator.problems(raw)
        if problems:
            return problems
        assert isinstance(raw, dict)  # the validator guarantees it
        identities, problems = normalize_identities(raw["identities"], self.default_region)
        occurred_at = _occurred_at(raw["occurred_at"], at, problems)
        channel = self._channel(raw, problems)
        if problems:
            return problems
        event = self._envelope(raw, tenant, identities, occurred_at, channel, at.received_at)
        kind, value = primary_identity(identities)
        key = f"{event['tenant']}|{kind}:{value}".encode()
        return PreparedEvent(event["event_id"], event["tenant"], event["type"], key, encode(event))

    def _channel(self, raw: Mapping[str, Any], problems: list[Problem]) -> str:
        event_type = self.catalog.types[raw["type"]]
        latest = event_type.latest_version
        payload = upcast_payload(raw["type"], raw["schema_version"], latest, raw["payload"])
        derived = event_type.channel_for(payload)
        given = raw.get("channel")
        if given is not None and given != derived:
            problems.append(Problem("/channel", f"this {raw['type']} is on channel {derived!r}"))
        return derived

    @staticmethod
    def _envelope(
        raw: Mapping[str, Any],
        tenant: str,
        identities: dict[str, str],
        occurred_at: str,
        channel: str,
        received_at: str,
    ) -> dict[str, Any]:
        event_id = raw.get("event_id")
        event: dict[str, Any] = {
            "event_id": event_id.lower() if event_id else str(uuid.uuid4()),
            "tenant": raw.get("tenant") or tenant,
            "type": raw["type"],
            "schema_version": raw["schema_version"],
            "occurred_at": occurred_at,
            "received_at": received_at,
            "channel": channel,
            "source": raw["source"],
            "identities": identities,
            "payload": raw["payload"],
        }
        for name in _OPTIONAL:
            if name in raw:
                event[name] = raw[name]
        return event
