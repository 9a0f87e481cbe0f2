"""The touchpoint as readers see it: an immutable envelope at its type's latest version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from events.catalog import Catalog, load_catalog
from events.identities import is_junk
from events.upcasting import upcast_payload


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One customer interaction, as recorded in the ``touchpoints`` log.

    ``schema_version`` is the version the payload is *read* at (the latest);
    ``written_version`` is the one the publisher sent and the log holds.
    ``identities`` and the payload's personal fields are as logged (sealed, when
    encryption is on); ``subjects`` are the identifiers' keyed hashes the stages
    link by, and ``junk`` the kinds ingest judged placeholders. ``linked``: a profile's
    listed emails and phones beyond its identities, as ``(kind, subject, value as logged)``.
    """

    event_id: str
    tenant: str
    type: str
    schema_version: int
    occurred_at: str
    received_at: str
    channel: str
    source: str
    identities: Mapping[str, str]
    payload: Mapping[str, Any]
    written_version: int
    correlation_id: str | None = None
    conversation_id: str | None = None
    subjects: Mapping[str, str] = field(default_factory=dict)
    junk: tuple[str, ...] = ()
    linked: tuple[tuple[str, str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The envelope at the latest version, as JSON-ready data."""
        body: dict[str, Any] = {
            "event_id": self.event_id,
            "tenant": self.tenant,
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at,
            "received_at": self.received_at,
            "channel": self.channel,
            "source": self.source,
            "identities": dict(self.identities),
            "payload": dict(self.payload),
            "subjects": dict(self.subjects),
            "junk": list(self.junk),
        }
        if self.linked:
            body["linked"] = [list(link) for link in self.linked]
        if self.correlation_id is not None:
            body["correlation_id"] = self.correlation_id
        if self.conversation_id is not None:
            body["conversation_id"] = self.conversation_id
        return body


def encode(envelope: Mapping[str, Any]) -> bytes:
    """The wire form: compact UTF-8 JSON (orjson)."""
    return orjson.dumps(envelope)


def decode_touchpoint(data: bytes, catalog: Catalog | None = None) -> Touchpoint:
    """Read a logged envelope, upcasting its payload to the latest schema version."""
    raw = orjson.loads(data)
    catalog = catalog or load_catalog()
    written = int(raw["schema_version"])
    latest = catalog.types[raw["type"]].latest_version
    payload = upcast_payload(raw["type"], written, latest, raw["payload"])
    identities = raw["identities"]
    junk = raw.get("junk")
    if junk is None:  # logged before ingest judged them: the values are in clear
        junk = [k for k, v in identities.items() if is_junk(k, v)]
    return Touchpoint(
        event_id=raw["event_id"],
        tenant=raw["tenant"],
        type=raw["type"],
        schema_version=latest,
        occurred_at=raw["occurred_at"],
        received_at=raw["received_at"],
        channel=raw["channel"],
        source=raw["source"],
        identities=identities,
        payload=payload,
        written_version=written,
        correlation_id=raw.get("correlation_id"),
        conversation_id=raw.get("conversation_id"),
        subjects=raw.get("subjects") or identities,
        junk=tuple(junk),
        linked=tuple((k, s, v) for k, s, v in raw.get("linked") or ()),
    )
