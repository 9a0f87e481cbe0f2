"""Twilio webhooks (Programmable Voice status callbacks, Messaging): signature and dispatch.

Signature (twilio.com/docs/usage/webhooks/webhooks-security; twilio-python
``twilio/request_validator.py``): ``X-Twilio-Signature`` is the base64 HMAC-SHA1, keyed with the
account's auth token, of the full URL Twilio called followed by every POST parameter, sorted
by name (and, for a repeated name, by value), each as name then value with nothing between.
The URL is tried without and with its port (443/80 when none was written), as Twilio signs
either. A JSON body is not in the signature: the URL then carries ``bodySHA256``, the hex
SHA-256 of the body, and the parameters are empty. Twilio's signature holds no timestamp.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import ParseResult, parse_qs, parse_qsl, urlparse

from services.webhooks.delivery import RawDelivery, body_digest
from services.webhooks.mapping import Collector, Mapped
from services.webhooks.signatures import SignatureRejected, equal, hmac_base64, require_header
from services.webhooks.twilio_calls import map_call
from services.webhooks.twilio_messages import map_message

SIGNATURE = "X-Twilio-Signature"
IDEMPOTENCY_TOKEN = "I-Twilio-Idempotency-Token"
MAPPING_VERSION = "twilio-1"
Params = list[tuple[str, str]]


def signature(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """RequestValidator.compute_signature: names sorted, each name's values sorted."""
    by_name: dict[str, list[str]] = {}
    for name, value in params:
        by_name.setdefault(name, []).append(value)
    signed = url + "".join(
        name + value for name in sorted(by_name) for value in sorted(by_name[name])
    )
    return hmac_base64(auth_token, signed.encode(), "sha1")


def url_variants(url: str) -> tuple[str, str]:
    """The URL without its port and with it, as RequestValidator.validate tries both."""
    parsed = urlparse(url)
    if parsed.port is None:
        default = 443 if parsed.scheme == "https" else 80
        return parsed.geturl(), _with_netloc(parsed, f"{parsed.netloc}:{default}")
    host = parsed.netloc[: parsed.netloc.rfind(":")]
    return _with_netloc(parsed, host), parsed.geturl()


def _with_netloc(parsed: ParseResult, netloc: str) -> str:
    return parsed._replace(netloc=netloc).geturl()


def form_params(body: bytes) -> Params:
    """The POST parameters of a form body, blanks kept: Twilio signs empty values too."""
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True)


class Twilio:
    name = "twilio"
    mapping_version = MAPPING_VERSION
    receiver_sets_secret = False

    def check_secret(self, secret: str) -> None:
        if not secret.strip():
            raise ValueError("the Twilio auth token is empty")

    def verify(self, delivery: RawDelivery, secret: str, now: datetime) -> None:
        presented = require_header(delivery, SIGNATURE)
        params = self._signed_params(delivery)
        if not any(
            equal(signature(u, params, secret), presented) for u in url_variants(delivery.url)
        ):
            raise SignatureRejected("signature does not match the URL and parameters")

    @staticmethod
    def _signed_params(delivery: RawDelivery) -> Params:
        body_hash = parse_qs(urlparse(delivery.url).query).get("bodySHA256")
        if body_hash:
            if not equal(hashlib.sha256(delivery.body).hexdigest(), body_hash[0]):
                raise SignatureRejected("body does not match the URL's bodySHA256")
            return []
        try:
            return form_params(delivery.body)
        except UnicodeDecodeError:
            raise SignatureRejected("body is not UTF-8 form data") from None

    def delivery_id(self, delivery: RawDelivery) -> str:
        return delivery.headers.get(IDEMPOTENCY_TOKEN) or body_digest(delivery)

    def map(self, delivery: RawDelivery, checked: bool = True) -> Mapped:
        out = Collector(delivery, MAPPING_VERSION, checked)
        if "bodySHA256" in parse_qs(urlparse(delivery.url).query):
            out.skip("json", "a JSON callback, not a voice or messaging one")
            return out.result()
        try:
            params = dict(form_params(delivery.body))
        except UnicodeDecodeError:
            out.skip("delivery", "body is not UTF-8 form data")
            return out.result()
        if "MessageSid" in params or "SmsSid" in params:
            map_message(out, params)
        elif "CallStatus" in params:
            map_call(out, params)
        elif "RecordingSid" in params:
            out.skip(
                "recording",
                "a recording callback names no caller; the recording comes "
                "with the completed call's status callback when Twilio includes it",
            )
        else:
            out.skip("delivery", "neither a call status nor a message callback")
        return out.result()
