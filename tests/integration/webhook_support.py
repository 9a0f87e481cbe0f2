"""Provider deliveries signed as each provider signs them, posted to a served ingest, read back.

The sample payloads are the providers' documented ones the unit tests hold; here they go
through ``touchline serve`` and the real broker.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from events.identities import normalize_identities
from events.privacy.protector import EnvelopeProtector
from events.topics import TOUCHPOINTS, WEBHOOKS_RAW
from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from services.webhooks.delivery import Headers, RawDelivery
from services.webhooks.raw_log import RawEntry, open_raw
from services.webhooks.registry import PROVIDERS
from services.webhooks.twilio import form_params, signature
from tests.support import ApiServer, cli, end_offsets, random_tenant, read_since
from tests.unit import test_webhooks_chatwoot as chatwoot
from tests.unit import test_webhooks_line as line
from tests.unit import test_webhooks_sendgrid as sendgrid
from tests.unit import test_webhooks_shopify as shopify
from tests.unit import test_webhooks_twilio as twilio

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Case:
    """One provider: its secret, a documented sample, a delivery of a type nobody maps."""

    provider: str
    secret: str
    content_type: str
    sample: bytes
    unknown: bytes
    unknown_kind: str
    sign: Callable[[bytes, str, str], dict[str, str]]  # body, secret, url -> headers
    sample_headers: tuple[tuple[str, str], ...] = ()
    unknown_headers: tuple[tuple[str, str], ...] = ()


def _sendgrid_sign(body: bytes, secret: str, url: str) -> dict[str, str]:
    return sendgrid.signed(SENDGRID_KEY, body, datetime.now(UTC))


def _twilio_sign(body: bytes, secret: str, url: str) -> dict[str, str]:
    return {"X-Twilio-Signature": signature(url, form_params(body), secret)}


def _line_sign(body: bytes, secret: str, url: str) -> dict[str, str]:
    return line.sign(body, secret)


def _shopify_sign(body: bytes, secret: str, url: str) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": shopify.sign(body, secret),
            "X-Shopify-Webhook-Id": str(uuid.UUID(bytes=hashlib.md5(body).digest()))}  # fmt: skip


def _chatwoot_sign(body: bytes, secret: str, url: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    delivery = str(uuid.UUID(bytes=hashlib.md5(body).digest()))
    return {"X-Chatwoot-Signature": f"sha256={digest}", "X-Chatwoot-Timestamp": stamp,
            "X-Chatwoot-Delivery": delivery}  # fmt: skip


def _public_key() -> str:
    return sendgrid.public_key_text(SENDGRID_KEY)


CASES = {
    "sendgrid": Case("sendgrid", _public_key(), JSON, sendgrid.BODY,
                     orjson.dumps([{**sendgrid.COMMON, "event": "brand_new_event",
                                    "sg_event_id": "bmV3LWV2ZW50"}]),
                     "brand_new_event", _sendgrid_sign),
    "twilio": Case("twilio", "twilio-auth-token", FORM, twilio.form(twilio.call("completed", CallDuration="42")),
                   twilio.form({"AccountSid": "AC00000000000000000000000000000001",
                                "From": twilio.CUSTOMER, "EventType": "conference-start"}),
                   "delivery", _twilio_sign),
    "line": Case("line", line.SECRET, JSON, line.BODY,
                 orjson.dumps({"destination": "U123", "events": [
                     {**line.COMMON, "type": "beacon", "webhookEventId": "01NEWBEACON"}]}),
                 "beacon", _line_sign),
    "shopify": Case("shopify", shopify.SECRET, JSON, orjson.dumps(shopify.LIVE),
                    orjson.dumps({"id": 632910392, "title": "IPod Nano - 8GB"}),
                    "products/create", _shopify_sign, (("X-Shopify-Topic", "orders/paid"),),
                    (("X-Shopify-Topic", "products/create"),)),
    "chatwoot": Case("chatwoot", chatwoot.SECRET, JSON, orjson.dumps(chatwoot.MESSAGE_CREATED),
                     orjson.dumps({"event": "webwidget_triggered", "id": 9}),
                     "webwidget_triggered", _chatwoot_sign),
}  # fmt: skip


class Hooks:
    """Connectors on a served ingest; deliveries posted; what reached the log, opened."""

    def __init__(self, api: ApiServer, bootstrap: str) -> None:
        self.api = api
        self.bootstrap = bootstrap
        protector = open_protector(Settings.from_env(api.env))
        assert protector is not None
        self.protector: EnvelopeProtector = protector

    def connector(self, case: Case, tenant: str | None = None) -> tuple[str, str]:
        """A new connector of ``case``'s provider: (its id, its tenant)."""
        tenant = tenant or random_tenant()
        added = cli(self.api.env, "connectors", "add", case.provider, "--tenant", tenant,
                    "--secret", case.secret)  # fmt: skip
        return added.stdout.strip().splitlines()[0], tenant

    def url(self, provider: str, connector_id: str) -> str:
        return f"{self.api.url}/v1/webhooks/{provider}/{connector_id}"

    def post(
        self, case: Case, connector_id: str, body: bytes, extra: dict[str, str] | None = None
    ) -> httpx.Response:
        """``body`` signed; the case's sample headers go with its sample, unknown ones else."""
        url = self.url(case.provider, connector_id)
        headers = {"Content-Type": case.content_type, **self.headers_for(case, body),
                   **case.sign(body, case.secret, url), **(extra or {})}  # fmt: skip
        return httpx.post(url, content=body, headers=headers, timeout=30)

    @staticmethod
    def headers_for(case: Case, body: bytes) -> dict[str, str]:
        return dict(case.sample_headers if body == case.sample else case.unknown_headers)

    def expected(self, case: Case, connector_id: str, body: bytes) -> dict[str, dict[str, Any]]:
        """What the provider's mapping gives for ``body``, by event id (the unit tests hold it
        to the documented lists)."""
        url = self.url(case.provider, connector_id)
        headers = Headers({**self.headers_for(case, body), **case.sign(body, case.secret, url)})
        delivery = RawDelivery(case.provider, connector_id, url, headers, body, datetime.now(UTC))
        return {e["event_id"]: e for e in PROVIDERS[case.provider].map(delivery).envelopes}

    def since(self) -> dict[str, Any]:
        return {t: asyncio.run(end_offsets(self.bootstrap, t)) for t in (TOUCHPOINTS, WEBHOOKS_RAW)}

    def touchpoints(self, since: dict[str, Any], tenant: str) -> list[dict[str, Any]]:
        records = asyncio.run(read_since(self.bootstrap, since[TOUCHPOINTS], TOUCHPOINTS))
        mine = [v for r in records if (v := orjson.loads(r.value))["tenant"] == tenant]
        return [opened.envelope for opened in self.protector.open_batch(mine)]

    def raw(self, since: dict[str, Any], tenant: str) -> list[RawEntry]:
        records = asyncio.run(read_since(self.bootstrap, since[WEBHOOKS_RAW], WEBHOOKS_RAW))
        entries = [open_raw(r.value, self.protector) for r in records]
        return [e for e in entries if e.tenant == tenant]

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(self.api.url + "/metrics", timeout=10).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0


def normalized(identities: dict[str, str]) -> dict[str, str]:
    return normalize_identities(identities, "US")[0]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
