"""``POST /v1/webhooks/{provider}/{connector_id}``: provider webhooks into the event log.

No API key: the connector in the URL names the tenant, and the provider's signature over the
raw body proves the sender. The answer comes as soon as the delivery and its touchpoints are
durable in Kafka (providers retry slow receivers): 200 with what was accepted and what was
kept unmapped, as JSON, or for Twilio as empty TwiML (a messaging webhook's answer is read as
instructions) with the counts in headers.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.ingest.errors import IngestError, json_response
from services.ingest.http import read_limited
from services.ingest.webhook_receiver import Received, WebhookReceiver
from services.webhooks.delivery import Headers, RawDelivery

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "missing, bad or stale signature; nothing was kept"},
    404: {"description": "unknown provider or connector"},
    410: {"description": "the connector was revoked"},
    413: {"description": "the body is over TOUCHLINE_WEBHOOK_MAX_BODY_BYTES"},
    415: {"description": "not the body type the provider posts"},
    503: {"description": "the log did not take the delivery; the provider should retry"},
}


def webhook_router(receiver: WebhookReceiver, max_body_bytes: int, public_url: str) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/v1/webhooks/{provider}/{connector_id}",
        summary="Receive a provider's webhook (SendGrid, Twilio, LINE, Shopify, Chatwoot)",
        responses=_RESPONSES,
    )
    async def post_webhook(provider: str, connector_id: str, request: Request) -> Response:
        try:
            chosen, credentials = receiver.credentials(provider, connector_id)
            receiver.check_body_type(provider, request.headers.get("content-type", ""))
            body = await read_limited(request, max_body_bytes)
            delivery = RawDelivery(provider, connector_id, _called_url(request, public_url),
                                   Headers(request.headers.items()), body,
                                   receiver.clock())  # fmt: skip
            received = await receiver.receive(chosen, credentials, delivery)
        except IngestError as err:
            receiver.refused(provider, err)
            return err.response()
        return _answer(received)

    return router


def _called_url(request: Request, public_url: str) -> str:
    """The URL as the provider called it: Twilio signs scheme, host, port, path and query."""
    if not public_url:
        return str(request.url)
    query = request.url.query
    return public_url + request.url.path + (f"?{query}" if query else "")


def _answer(received: Received) -> Response:
    if received.provider == "twilio":
        headers = {
            "X-Touchline-Accepted": str(received.accepted.as_dict()["accepted"]),
            "X-Touchline-Unmapped": str(len(received.unmapped)),
            "X-Touchline-Delivery": received.delivery_id,
        }
        return Response(EMPTY_TWIML, 200, headers=headers, media_type="application/xml")
    return json_response(received.as_dict(), 200)
