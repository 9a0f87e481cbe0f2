"""HTTP details of ingest: the bearer key, the size limits, and decoding the body."""

from __future__ import annotations

import orjson
from starlette.requests import Request

from services.auth.keys import ApiKey, KeyStore
from services.ingest.errors import IngestError


def authenticate(request: Request, keys: KeyStore) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise IngestError(
            401,
            "unauthorized",
            "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = keys.lookup(token.strip())
    if key is None:
        raise IngestError(
            401,
            "unauthorized",
            "unknown or revoked API key",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return key


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The body, refusing (413) past ``max_bytes`` without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(f"the body is {declared} bytes", max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large("the body is larger", max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_events(body: bytes, max_events: int) -> list[object]:
    """One event (a JSON object) or a batch (a JSON array of objects)."""
    if not body.strip():
        raise IngestError(400, "invalid_json", "the body is empty: send an event or an array")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if isinstance(parsed, dict):
        return [parsed]
    if not isinstance(parsed, list):
        raise IngestError(
            400, "invalid_json", "send a JSON object (one event) or an array (a batch)"
        )
    if not parsed:
        raise IngestError(400, "empty_batch", "the batch is empty")
    if len(parsed) > max_events:
        raise IngestError(
            413, "batch_too_large", f"the batch has {len(parsed)} events; the limit is {max_events}"
        )
    return parsed


def _too_large(what: str, max_bytes: int) -> IngestError:
    return IngestError(413, "body_too_large", f"{what}; the limit is {max_bytes} bytes")
