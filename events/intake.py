"""Intake: from what a publisher sent to the exact bytes appended to the log.

The ingest API and the publisher library both call ``EventIntake.prepare``, so
an event is judged the same way whichever door it comes through.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from events.catalog import Catalog, load_catalog
from events.identities import normalize_identities, primary_identity
from events.problems import Problem
from events.timestamps import TimestampError, format_instant, parse_instant
from events.touchpoint import encode
from events.upcasting import upcast_payload
from events.validation import SchemaValidator

#: How far ahead of the ingest clock an event may claim to have happened.
MAX_CLOCK_SKEW = timedelta(minutes=15)
_OPTIONAL = ("correlation_id", "conversation_id")


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """A valid, normalized event and its Kafka record."""

    event_id: str
    tenant: str
    type: str
    key: bytes
    value: bytes


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
        received_at = format_instant(now)
        return [self.prepare(raw, tenant, now, received_at) for raw in raws]

    def prepare(
        self, raw: object, tenant: str, now: datetime, received_at: str | None = None
    ) -> PreparedEvent | list[Problem]:
        """Judge one event; ``tenant`` fills the envelope when the publisher left it out."""
        problems = self.validator.problems(raw)
        if problems:
            return problems
        assert isinstance(raw, dict)  # the validator guarantees it
        identities, problems = normalize_identities(raw["identities"], self.default_region)
        occurred_at = self._occurred_at(raw["occurred_at"], now, problems)
        channel = self._channel(raw, problems)
        if problems:
            return problems
        received_at = received_at or format_instant(now)
        event = self._envelope(raw, tenant, identities, occurred_at, channel, received_at)
        kind, value = primary_identity(identities)
        key = f"{event['tenant']}|{kind}:{value}".encode()
        return PreparedEvent(event["event_id"], event["tenant"], event["type"], key, encode(event))

    def _occurred_at(self, text: str, now: datetime, problems: list[Problem]) -> str:
        try:
            instant = parse_instant(text)
        except TimestampError as exc:
            problems.append(Problem("/occurred_at", str(exc)))
            return ""
        if instant - now > MAX_CLOCK_SKEW:
            problems.append(Problem("/occurred_at", "is in the future (more than 15 min ahead)"))
        return format_instant(instant)

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
