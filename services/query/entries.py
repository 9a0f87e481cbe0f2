"""Writing what the agent API answers: entries as JSON (masked for the role), times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.responses import Response

from projections.timeline.model import Fact
from services.query.masking import Masker

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def utc_text(value: datetime) -> str:
    """``2026-10-07T09:00:00.000Z``: UTC said explicitly, always milliseconds.

    The store hands back naive UTC datetimes; written as they are, a browser
    reads them as *local* time, and ``09:00:00`` beside ``09:00:00.500`` sorts
    wrongly as text. A fixed width sorts as the instants do.
    """
    if value.tzinfo is not None:  # isoformat, not strftime: a third of a page's cost was here
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _default(value: Any) -> Any:
    return utc_text(value) if isinstance(value, datetime) else str(value)


def json_bytes(entry: dict[str, Any]) -> bytes:
    """An entry as the API writes it, once, for every later read of its head."""
    return orjson.dumps(entry, default=_default, option=_OPTIONS)


def jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=_default, option=_OPTIONS))


def json_response(body: Any) -> Response:
    return Response(
        orjson.dumps(body, default=_default, option=_OPTIONS), media_type="application/json"
    )


def masked_text(masker: Masker, text: bytes, fact: Fact) -> Any:
    """A kept entry as this role may read it: its JSON as it is unless its type has
    personal data to mask, then parsed and masked."""
    if not masker.masks(fact[2], fact[3]):
        return orjson.Fragment(text)
    return masked_entry(masker, orjson.loads(text))


def masked_entry(masker: Masker, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as this role may read it; the entry itself when nothing is masked in it
    (copying every entry of every page was an eighth of a first read's CPU)."""
    payload = masker.payload(entry["type"], entry.get("schema_version", 1), entry["payload"])
    return entry if payload is entry["payload"] else {**entry, "payload": payload}


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(jsonable(data)) + b"\n\n"
