"""The log's sealed values, read in clear for the projections.

The projections hold personal data in clear (agents search it, analysts query
it), so that erasing a person means deleting their rows, and the log's copies
become unreadable when their keys are shredded. An erased value reads as
absent; a value sealed with a key the tenant never had, or tampered with,
makes its record a dead letter rather than a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from events.privacy.ciphertext import is_sealed
from events.privacy.errors import PrivacyError
from events.privacy.protector import EnvelopeProtector
from projections.rows import Rejected, SourceRecord


class Opener:
    def __init__(self, protector: EnvelopeProtector) -> None:
        self.protector = protector

    def resolved(
        self, records: Sequence[SourceRecord], rejected: list[Rejected]
    ) -> list[SourceRecord]:
        """Resolved touchpoints with their identities and personal payload fields in clear."""
        out = []
        for record in records:
            body = _body(record)
            if body is None or "control" in body:
                out.append(record)
                continue
            try:
                opened = self.protector.open(body).envelope
            except PrivacyError as exc:
                rejected.append(Rejected(record, f"cannot open its sealed values: {exc}"))
                continue
            opened["identities"] = {k: v for k, v in opened["identities"].items() if v is not None}
            out.append(record._replace(value=orjson.dumps(opened)))
        return out

    def customers(
        self, records: Sequence[SourceRecord], rejected: list[Rejected]
    ) -> list[SourceRecord]:
        """Customer events with the identifier values of their data and profile in clear."""
        out = []
        for record in records:
            body = _body(record)
            if body is None:
                out.append(record)
                continue
            try:
                tenant, data = body["tenant"], body.get("data") or {}
                if is_sealed(data.get("value")):
                    data["value"] = self._one(tenant, data["kind"], data["value"]) or ""
                if isinstance(data.get("identities"), dict):
                    data["identities"] = self._many(tenant, data["identities"])
                profile = body.get("profile")
                if isinstance(profile, dict) and isinstance(profile.get("identities"), dict):
                    profile["identities"] = self._many(tenant, profile["identities"])
            except (PrivacyError, KeyError, TypeError) as exc:
                rejected.append(Rejected(record, f"cannot open its sealed values: {exc!r}"))
                continue
            out.append(record._replace(value=orjson.dumps(body)))
        return out

    def _one(self, tenant: str, kind: str, value: Any) -> str | None:
        if not is_sealed(value):
            return str(value)
        return self.protector.open_identity(tenant, kind, value)

    def _many(self, tenant: str, identities: dict[str, list[Any]]) -> dict[str, list[str]]:
        opened = {k: [self._one(tenant, k, v) for v in values] for k, values in identities.items()}
        return {
            k: [v for v in values if v is not None] for k, values in opened.items() if any(values)
        }


def _body(record: SourceRecord) -> dict[str, Any] | None:
    try:
        body = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return None  # the rows say why it cannot be read
    return body if isinstance(body, dict) else None
