"""Receiving one provider webhook: connector, signature, raw record, touchpoints; all or nothing.

The raw delivery and the touchpoints it maps to go to the log in one transaction, through the
same intake and recent-id memory as ``/v1/events``: event ids come from the provider's own ids,
so a retried delivery is answered from memory (or removed downstream) and gives one touchpoint.
What the mapping or intake does not take is kept on ``webhooks.raw``, counted and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.identities import normalize_identities
from events.intake import PreparedEvent
from events.problems import Problem
from events.timestamps import now_utc
from services.ingest.errors import IngestError
from services.ingest.service import Accepted, IngestService
from services.platform.metrics import WebhookMetrics
from services.webhooks.connectors import Credentials, SqliteConnectorStore
from services.webhooks.delivery import RawDelivery
from services.webhooks.mapping import Envelope, Mapped, Unmapped
from services.webhooks.provider import Provider
from services.webhooks.raw_log import named_in, raw_record
from services.webhooks.registry import PROVIDERS, verify_with_any
from services.webhooks.signatures import SignatureRejected

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
#: the body types each provider posts (Twilio: forms, or JSON with ``bodySHA256`` in the URL)
BODY_TYPES = {"twilio": (FORM, JSON)}
_KIND_LABEL_LIMIT = 48


@dataclass(frozen=True)
class Received:
    """A delivery now durable in the log, and what it gave."""

    provider: str
    delivery_id: str
    mapping_version: str
    accepted: Accepted
    unmapped: tuple[Unmapped, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "mapping_version": self.mapping_version,
            **self.accepted.as_dict(),
            "unmapped": [{"kind": u.kind, "reason": u.reason} for u in self.unmapped],
        }


class WebhookReceiver:
    def __init__(
        self,
        service: IngestService,
        connectors: SqliteConnectorStore,
        providers: Mapping[str, Provider] = PROVIDERS,
        clock: Callable[[], datetime] = now_utc,
        metrics: WebhookMetrics | None = None,
    ) -> None:
        self.service = service
        self.connectors = connectors
        self.providers = providers
        self.clock = clock
        self.metrics = metrics

    def credentials(self, provider: str, connector_id: str) -> tuple[Provider, Credentials]:
        """The provider and the connector's tenant and secrets; 404 unknown, 410 revoked."""
        chosen = self.providers.get(provider)
        if chosen is None:
            known = ", ".join(sorted(self.providers))
            raise IngestError(404, "unknown_provider", f"no webhook provider {provider!r} "
                              f"(known: {known})")  # fmt: skip
        found = self.connectors.credentials(provider, connector_id)
        if found is not None:
            return chosen, found
        connector = self.connectors.get(connector_id)
        if connector is not None and connector.provider == provider:
            raise IngestError(410, "connector_revoked", f"connector {connector_id} was revoked")
        raise IngestError(404, "unknown_connector", f"no {provider} connector {connector_id!r}")

    @staticmethod
    def check_body_type(provider: str, content_type: str) -> None:
        """415 unless the body is of a type the provider posts."""
        media = content_type.split(";", 1)[0].strip().lower()
        allowed = BODY_TYPES.get(provider, (JSON,))
        if media not in allowed:
            shown = media or "none"
            raise IngestError(415, "unsupported_media_type",
                              f"{provider} posts {' or '.join(allowed)}, this body is {shown}")  # fmt: skip

    async def receive(
        self, provider: Provider, credentials: Credentials, delivery: RawDelivery
    ) -> Received:
        """Verify, keep and map ``delivery``; raises ``IngestError`` (401, 503) with nothing kept."""
        now = self.clock()
        try:
            verify_with_any(provider, delivery, credentials.secrets, now)
        except SignatureRejected as exc:
            raise IngestError(401, "bad_signature", exc.reason) from None
        tenant = credentials.connector.tenant
        mapped = provider.map(delivery, checked=False)  # intake judges each envelope below
        prepared, unmapped = self._prepare(mapped, tenant, delivery.received_at)
        intake = self.service.intake
        named = named_in(delivery, _normalized(mapped.envelopes, intake.default_region))
        delivery_id = provider.delivery_id(delivery)
        record = raw_record(delivery, tenant, delivery_id,
                            mapped.mapping_version, [p.event_id for p in prepared], named,
                            intake.protector)  # fmt: skip
        accepted, fresh = await self.service.append(prepared, [record])
        self.service.count_accepted(fresh, len(accepted.duplicates))
        self._count(provider.name, unmapped)
        return Received(provider.name, delivery_id, mapped.mapping_version,
                        accepted, unmapped)  # fmt: skip

    def refused(self, provider: str, error: IngestError) -> None:
        if self.metrics is not None and provider in self.providers:
            self.metrics.deliveries.labels(provider, error.code).inc()

    def _prepare(
        self, mapped: Mapped, tenant: str, now: datetime
    ) -> tuple[list[PreparedEvent], tuple[Unmapped, ...]]:
        """Intake judges the envelopes as ``/v1/events`` would; what it refuses is reported as
        unmapped (by JSON pointer), since a provider's retry could not change it."""
        envelopes: list[object] = list(mapped.envelopes)
        results = self.service.intake.prepare_batch(envelopes, tenant, now)
        prepared: list[PreparedEvent] = []
        unmapped = list(mapped.unmapped)
        for envelope, result in zip(mapped.envelopes, results, strict=True):
            if isinstance(result, PreparedEvent):
                prepared.append(result)
            else:
                unmapped.append(Unmapped(envelope["type"], _refusal(result)))
        return prepared, tuple(unmapped)

    def _count(self, provider: str, unmapped: tuple[Unmapped, ...]) -> None:
        if self.metrics is None:
            return
        self.metrics.deliveries.labels(provider, "accepted").inc()
        for item in unmapped:
            self.metrics.unmapped.labels(provider, _kind_label(item.kind)).inc()


def _normalized(envelopes: tuple[Envelope, ...], region: str) -> list[dict[str, str]]:
    """Each distinct identity set once (a batch repeats the same people)."""
    distinct = {tuple(sorted(e["identities"].items())) for e in envelopes}
    return [normalize_identities(dict(ids), region)[0] for ids in distinct]


def _refusal(problems: list[Problem]) -> str:
    where = ", ".join(sorted({p.pointer or "/" for p in problems}))
    return f"refused by intake at {where}"


def _kind_label(kind: str) -> str:
    """A provider's event name as a metric label, bounded: only signed deliveries get here,
    but a label must still not take whatever text a payload carries."""
    clean = kind if kind.isascii() and len(kind) <= _KIND_LABEL_LIMIT else "other"
    return "".join(c if c.isalnum() or c in "_.:/-" else "_" for c in clean)
