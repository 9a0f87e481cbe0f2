"""Intake: from what a publisher sent to the exact bytes appended to the log.

The ingest API and the publisher library both call ``EventIntake.prepare``, so
an event is judged the same way whichever door it comes through.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from events.attributes import AttributeRules, attribute_problems
from events.catalog import Catalog, load_catalog
from events.identities import is_junk, normalize_identities, normalize_listed, primary_identity
from events.keys import identity_key
from events.privacy.protector import EnvelopeProtector
from events.problems import Problem
from events.timestamps import TimestampError, format_instant, parse_check, parse_instant
from events.touchpoint import encode
from events.upcasting import upcast_payload
from events.validation import SchemaValidator

#: How far ahead of the ingest clock an event may claim to have happened.
MAX_CLOCK_SKEW = timedelta(minutes=15)
#: No touchpoint happened before this (a year-0001 date is a bug upstream, not history).
EARLIEST = "1970-01-01T00:00:00.000Z"
_OPTIONAL = ("correlation_id", "conversation_id")
PROFILE = "customer.profile_updated"  # the type whose payload holds declared attributes
_LINKED = "_linked"  # a judged profile's listed identifiers, until ``_written`` logs them


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
    elif formatted < EARLIEST:
        problems.append(
            Problem("/occurred_at", f"is before {EARLIEST[:10]}: not a touchpoint's time")
        )
    return formatted


class EventIntake:
    """Validates, normalizes, seals and serializes events for one deployment's settings.

    With a ``protector``, personal values (identifiers marked ``x-pii`` and the
    payload's ``x-pii`` fields) are sealed before anything is written, and every
    identifier is also carried as its *subject*: a keyed hash (HMAC under the
    tenant's secret) that the stages link by and the record key carries, so no
    identifier travels in clear. Without one (encryption off), the subjects are
    the identifiers themselves.

    With ``attributes``, a profile's custom attributes must be declared by its tenant and
    hold values of the declared types (``events.attributes``).
    """

    def __init__(
        self,
        default_region: str,
        catalog: Catalog | None = None,
        protector: EnvelopeProtector | None = None,
        attributes: AttributeRules | None = None,
    ) -> None:
        self.catalog = catalog or load_catalog()
        self.validator = SchemaValidator(self.catalog)
        self.default_region = default_region
        self.protector = protector
        self.attributes = attributes

    def prepare_batch(
        self, raws: list[object], tenant: str, now: datetime
    ) -> list[PreparedEvent | list[Problem]]:
        """Judge each event of a batch; all of them get the same ``received_at``."""
        at = IntakeTime.of(now)
        judged = [self._judge(raw, tenant, at) for raw in raws]
        valid = [j for j in judged if isinstance(j, dict)]
        if not valid:
            return judged  # type: ignore[return-value]
        written = iter(self._written(valid))
        return [next(written) if isinstance(j, dict) else j for j in judged]

    def prepare(self, raw: object, tenant: str, now: datetime) -> PreparedEvent | list[Problem]:
        """Judge one event; ``tenant`` fills the envelope when the publisher left it out."""
        return self.prepare_batch([raw], tenant, now)[0]

    def _judge(self, raw: object, tenant: str, at: IntakeTime) -> dict[str, Any] | list[Problem]:
        problems = self.validator.problems(raw)
        if problems:
            return problems
        assert isinstance(raw, dict)  # the validator guarantees it
        identities, problems = normalize_identities(raw["identities"], self.default_region)
        occurred_at = _occurred_at(raw["occurred_at"], at, problems)
        channel = self._channel(raw, problems)
        problems += self._attribute_problems(raw, tenant)
        linked = self._listed(raw, identities, problems)
        if problems:
            return problems
        event = self._envelope(raw, tenant, identities, occurred_at, channel, at.received_at)
        if linked:
            event[_LINKED] = linked
        return event

    def _listed(
        self, raw: Mapping[str, Any], identities: Mapping[str, str], problems: list[Problem]
    ) -> list[tuple[str, str]]:
        """A profile's listed emails and phones beyond its identities: the master links them too."""
        if raw["type"] != PROFILE:
            return []
        linked, more = normalize_listed(raw["payload"], identities, self.default_region)
        problems += more
        return linked

    def _attribute_problems(self, raw: Mapping[str, Any], tenant: str) -> list[Problem]:
        attributes = raw["payload"].get("attributes") if raw["type"] == PROFILE else None
        if self.attributes is None or not attributes:  # the schema made it a dict
            return []
        return attribute_problems(attributes, self.attributes.declared(raw.get("tenant") or tenant))

    def _written(self, envelopes: list[dict[str, Any]]) -> list[PreparedEvent]:
        """Each clear envelope as logged: subjects and junk beside it, personal values sealed."""
        junk = [sorted(k for k, v in e["identities"].items() if is_junk(k, v)) for e in envelopes]
        listed = [(e["tenant"], e.pop(_LINKED, ())) for e in envelopes]
        if self.protector is not None:
            pairs = self.protector.seal_batch_with_subjects(envelopes)
            linked = self.protector.seal_linked(listed)
        else:
            pairs = [(e, dict(e["identities"])) for e in envelopes]
            linked = [[[k, v, v] for k, v in values] for _, values in listed]
        prepared = []
        for (body, subject), junked, links in zip(pairs, junk, linked, strict=True):
            kind, _ = primary_identity(body["identities"])
            key = identity_key(body["tenant"], kind, subject[kind]).encode()
            logged = {**body, "subjects": subject, "junk": junked}
            if links:
                logged["linked"] = links
            prepared.append(PreparedEvent(body["event_id"], body["tenant"], body["type"], key,
                                          encode(logged)))  # fmt: skip
        return prepared

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
