"""The agent's API and page: search, the 360 profile, the timeline, and a live stream.

It runs in the process that owns the projection store (the projector's, in
the embedded default: a chDB directory opens in one process only). Every
route is scoped to the caller's tenant; another tenant's customer is simply
not found (404). Bad parameters get 400 with what was wrong and where.
Profile and timeline reads are recorded in ``audit_reads``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from events.catalog import CHANNELS, Catalog, load_catalog
from events.identities import IdentityError, normalize_email, normalize_phone
from events.timestamps import epoch_ms
from projections import reads
from projections.serving_index import Fact, ServingIndex
from projections.store import ProjectionStore, ProjectionStoreError
from services.auth.keys import ApiKey, KeyStore
from services.platform.docs import add_offline_docs
from services.platform.heartbeats import HealthView
from services.platform.metrics import exposition
from services.query.audit import AuditLog
from services.query.cache import Head, HeadPage, ReadCache, page_from_head
from services.query.changes import ChangeFeed
from services.query.masking import Masker

STATIC = Path(__file__).with_name("static")
AGENT_ROLES = frozenset({"agent", "supervisor"})
HEAD_ENTRIES = 100  # newest entries kept per recently read customer: two default pages
INDEX_HEAD_ENTRIES = 51  # the same, from the serving index: one default page, and one more
# that tells whether another page follows
T = TypeVar("T")


class QueryError(Exception):
    def __init__(self, status: int, code: str, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.where = status, code, message, where

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.where is not None:
            body["where"] = self.where
        return JSONResponse({"error": body}, status_code=self.status)


@dataclass
class QueryDeps:
    store: ProjectionStore
    keys: KeyStore
    audit: AuditLog
    region: str = "US"
    catalog: Catalog = field(default_factory=load_catalog)
    stream_poll_s: float = 15.0  # a stream reads the store when told of a write; this at the latest
    cache: ReadCache = field(default_factory=ReadCache)
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    index: ServingIndex | None = None  # used for resolutions and timelines while it is ready
    #: the in-process projector's freshness (None until it has one): no store read for it
    freshness_of: Callable[[], dict[str, Any] | None] | None = None
    health: HealthView | None = None  # the processing stages, as their heartbeats tell
    registry: CollectorRegistry | None = None  # what /metrics shows
    _freshness: tuple[float, dict[str, Any]] = (0.0, {})
    _refreshing: asyncio.Task[dict[str, Any]] | None = None
    _maskers: dict[str, Masker] = field(default_factory=dict)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, self.store, *args, **kwargs)
        except ProjectionStoreError as exc:
            raise QueryError(
                503, "projections_unavailable", str(exc).split("\n")[0][:300]
            ) from None

    async def resolve(self, tenant: str, customer_id: uuid.UUID) -> reads.Resolution | None:
        index = self.index
        if index is not None and index.ready:  # two or three point reads: on the loop
            return index.resolve(tenant, customer_id)
        return await self.read(reads.resolve, tenant, customer_id)

    async def head(self, tenant: str, resolution: reads.Resolution) -> Head:
        """A survivor's newest entries, for the cache and the first page.

        From the index on the loop itself: a short key range per id, no filter
        (a thread hop and the GIL hand-over cost more than the read). From the
        store on a thread, written as JSON once here.
        """
        index = self.index
        if index is not None and index.ready:  # a default page: what it does not hold is cheap
            return Head(*index.head(tenant, resolution.ids, INDEX_HEAD_ENTRIES))
        newest = await self.read(reads.timeline, tenant, resolution.ids, limit=HEAD_ENTRIES)
        return Head([_json_bytes(e) for e in newest.entries],
                    [_fact(e) for e in newest.entries], newest.next_after is None)  # fmt: skip

    def masker(self, role: str) -> Masker:
        """One masker per role for the process: it remembers which types carry personal data."""
        found = self._maskers.get(role)
        if found is None:
            found = self._maskers[role] = Masker(self.catalog, role)
        return found

    async def timeline(
        self, tenant: str, customer_ids: Sequence[str], **query: Any
    ) -> reads.TimelinePage:
        index = self.index
        if index is not None and index.ready:
            return await asyncio.to_thread(index.timeline, tenant, customer_ids, **query)
        return await self.read(reads.timeline, tenant, customer_ids, **query)

    async def freshness(self) -> dict[str, Any]:
        """The projections' lag, read at most about once a second by one request at a time.

        Every request that found the value stale used to read it itself: at
        50 concurrent agents, 50 store reads queued at once, every second.
        Now one refresh runs and the others await it (or, once there is a
        value, answer with the one a second old).
        """
        at, value = self._freshness
        if time.monotonic() - at <= 1.0:
            return value
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh_freshness())
        return value if at else await asyncio.shield(self._refreshing)

    async def _refresh_freshness(self) -> dict[str, Any]:
        try:
            known = self.freshness_of() if self.freshness_of is not None else None
            value: dict[str, Any] = _jsonable(
                known if known is not None else await self.read(reads.freshness)
            )
        except QueryError:
            if not self._freshness[0]:
                raise  # nothing to answer with: the request that waited gets the 503
            return self._freshness[1]  # the last value stays; the next request tries again
        self._freshness = (time.monotonic(), value)
        return value


def create_query_app(deps: QueryDeps) -> FastAPI:
    app = FastAPI(title="Touchline agent API", version="1", docs_url=None, redoc_url=None,
                  description="Find a customer and read one cross-channel timeline, live.")  # fmt: skip
    add_offline_docs(app, "Touchline agent")

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return QueryError(400, "bad_parameter", str(first.get("msg")), where).response()

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        cache = deps.cache
        stages = deps.health.stages() if deps.health is not None else {}
        ok = all(h.state == "up" for h in stages.values())
        return {"status": "ok" if ok else "degraded",
                "stages": {name: h.as_dict() for name, h in stages.items()},
                "freshness": await deps.freshness(),
                "cache": {"kept": len(cache), "hits": cache.hits, "misses": cache.misses},
                "streams_waiting_on": len(deps.changes),
                "serving_index": deps.index.status() if deps.index else {"state": "off"}}  # fmt: skip

    @app.get("/v1/customers")
    async def search(
        request: Request,
        query: Annotated[str, Query(min_length=1, max_length=200)],
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    ) -> Response:
        key = authenticate(request, deps.keys)
        masker = deps.masker(key.role)
        candidates = search_candidates(query, deps.region)
        found = await deps.read(reads.search, key.tenant, candidates, query, limit, offset)
        for hit in found:
            hit["matched"] = [{"kind": m["kind"], "value": masker.identity(m["kind"], m["value"])}
                              for m in hit["matched"]]  # fmt: skip
        return _json({"results": found, "limit": limit, "offset": offset,
                      "interpreted_as": [f"{k}:{masker.identity(k, v)}" for k, v in candidates],
                      "freshness": await deps.freshness()})  # fmt: skip

    @app.get("/v1/customers/{customer_id}")
    async def profile(request: Request, customer_id: str) -> Response:
        key = authenticate(request, deps.keys)
        survivor = (await _resolve(deps, key, customer_id)).survivor
        found = await deps.read(reads.profile, key.tenant, survivor)
        deps.audit.record(key, str(survivor), "profile")
        masker = deps.masker(key.role)
        body = {**found.__dict__, "identities": masker.identities(found.identities),
                "requested_id": customer_id, "freshness": await deps.freshness()}  # fmt: skip
        return _json(body)

    @app.get("/v1/customers/{customer_id}/timeline",
             openapi_extra={"parameters": TIMELINE_PARAMETERS})  # fmt: skip
    async def timeline(request: Request, customer_id: str) -> Response:
        """Newest first, cursor-paginated; no default time window.

        The query is read by hand, not by FastAPI's validation: the timeline is
        the route 50 agents call at once, and declaring its seven parameters
        cost a third of its framework overhead (0.45 against 0.30 ms a request,
        measured). ``TIMELINE_PARAMETERS`` documents them; errors are the same
        400s.
        """
        query = request.query_params
        cursor, limit = query.get("cursor"), _int_in(query.get("limit"), "limit", 50, 1, 200)
        channel, type = query.getlist("channel") or None, query.getlist("type") or None
        since, until = query.get("since"), query.get("until")
        key = authenticate(request, deps.keys)
        channels = _known(channel, set(CHANNELS), "channel")
        types = _known(type, set(deps.catalog.types), "type")
        after = decode_cursor(cursor) if cursor else None
        resolution = await _resolve(deps, key, customer_id)
        survivor = resolution.survivor
        page = await _timeline(deps, key.tenant, resolution, limit=limit, after=after,
                               channels=channels, types=types, since=_instant(since, "since"),
                               until=_instant(until, "until"))  # fmt: skip
        deps.audit.record(key, str(survivor), "timeline")
        masker = deps.masker(key.role)
        if isinstance(page, HeadPage):
            entries: list[Any] = [_masked_text(masker, text, fact)
                                  for text, fact in zip(page.texts, page.facts, strict=True)]  # fmt: skip
        else:
            entries = [_masked_entry(masker, e) for e in page.entries]
        return _json({"customer_id": str(survivor), "requested_id": customer_id, "entries": entries,
                      "next_cursor": encode_cursor(*page.next_after) if page.next_after else None,
                      "freshness": await deps.freshness()})  # fmt: skip

    @app.get("/v1/customers/{customer_id}/stream")
    async def stream(request: Request, customer_id: str) -> StreamingResponse:
        key = authenticate(request, deps.keys)
        survivor = (await _resolve(deps, key, customer_id)).survivor
        deps.audit.record(key, str(survivor), "stream")
        masker = deps.masker(key.role)
        return StreamingResponse(_events(deps, request, key, survivor, masker),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        text, content_type = exposition(deps.registry or CollectorRegistry())
        return Response(text, media_type=content_type)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


def authenticate(request: Request, keys: KeyStore) -> ApiKey:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    token = token or request.query_params.get("token", "")  # EventSource cannot send headers
    if not token:
        raise QueryError(401, "unauthenticated", "send 'Authorization: Bearer <agent token>'")
    key = keys.lookup(token)
    if key is None:
        raise QueryError(401, "unauthenticated", "unknown or revoked token")
    if key.role not in AGENT_ROLES:
        raise QueryError(
            403, "forbidden", f"role {key.role!r} cannot read customers (agent or supervisor)"
        )
    return key


def search_candidates(text: str, region: str) -> list[tuple[str, str]]:
    """The identifiers a search box entry could be, normalized the way ingest normalizes them."""
    raw = text.strip()
    found: list[tuple[str, str]] = []
    if "@" in raw:
        with contextlib.suppress(IdentityError):
            found.append(("email", normalize_email(raw)))
    digits = sum(c.isdigit() for c in raw)
    if digits >= 6 and all(c.isdigit() or c in "+-() ." for c in raw):
        with contextlib.suppress(IdentityError):
            found.append(("phone", normalize_phone(raw, region)))
    for kind in ("loyalty_id", "customer_ref", "device_id"):
        found.append((kind, raw))
    if ":" in raw:
        network, _, handle = raw.partition(":")
        found.append(("social", f"{network.lower()}:{handle.lstrip('@').lower()}"))
    return found


def encode_cursor(at: datetime, event_id: str) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at  # naive from the store means UTC
    raw = orjson.dumps([int(at.timestamp() * 1000), event_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at_ms, event_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromtimestamp(int(at_ms) / 1000, UTC), str(uuid.UUID(str(event_id)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise QueryError(400, "bad_cursor", "the cursor is not one this API returned",
                         "cursor") from None  # fmt: skip


async def _resolve(deps: QueryDeps, key: ApiKey, customer_id: str) -> reads.Resolution:
    try:
        parsed = uuid.UUID(customer_id)
    except ValueError:
        raise QueryError(400, "bad_customer_id", f"{customer_id!r} is not a customer id (a UUID)",
                         "customer_id") from None  # fmt: skip
    found = await _lookup(deps, key.tenant, parsed)
    if found is None:
        raise QueryError(404, "not_found", f"no customer {customer_id} in tenant {key.tenant}")
    return found


async def _lookup(deps: QueryDeps, tenant: str, customer_id: uuid.UUID) -> reads.Resolution | None:
    found = deps.cache.resolution(tenant, str(customer_id))
    if found is None:
        epoch = deps.cache.epoch
        found = await deps.resolve(tenant, customer_id)
        if found is not None:
            deps.cache.keep_resolution(tenant, str(customer_id), found, epoch)
    return found


async def _timeline(
    deps: QueryDeps, tenant: str, resolution: reads.Resolution, **query: Any
) -> HeadPage | reads.TimelinePage:
    """From the customer's cached head when it answers exactly; else from the store.

    A first page (no cursor) with no head fetches the head, so the agent's
    next chip, page or refresh on this customer costs no store read.
    """
    head = deps.cache.head(tenant, str(resolution.survivor))
    if head is None and query.get("after") is None:
        epoch = deps.cache.epoch
        head = await deps.head(tenant, resolution)
        deps.cache.keep_head(tenant, resolution, head, epoch)
    page = page_from_head(head, **query) if head is not None else None
    return page if page is not None else await deps.timeline(tenant, resolution.ids, **query)


TIMELINE_PARAMETERS: list[dict[str, Any]] = [
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "next_cursor of the previous page"},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "channel", "in": "query", "required": False, "explode": True,
     "schema": {"type": "array", "items": {"type": "string", "enum": list(CHANNELS)}}},
    {"name": "type", "in": "query", "required": False, "explode": True,
     "schema": {"type": "array", "items": {"type": "string"}}, "description": "event types"},
    {"name": "since", "in": "query", "required": False,
     "schema": {"type": "string", "format": "date-time"}, "description": "ISO 8601, inclusive"},
    {"name": "until", "in": "query", "required": False,
     "schema": {"type": "string", "format": "date-time"}, "description": "ISO 8601, exclusive"},
]  # fmt: skip


def _int_in(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryError(400, "bad_parameter", f"{name} must be an integer",
                         f"query.{name}") from None  # fmt: skip
    if not low <= value <= high:
        raise QueryError(400, "bad_parameter", f"{name} must be from {low} to {high}",
                         f"query.{name}")  # fmt: skip
    return value


def _known(values: list[str] | None, allowed: set[str], name: str) -> list[str] | None:
    if not values:
        return None
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise QueryError(400, f"unknown_{name}", f"unknown {name} {unknown[0]!r} "
                         f"(one of {', '.join(sorted(allowed))})", name)  # fmt: skip
    return values


def _instant(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(400, "bad_time", f"{name} must be an ISO 8601 time", name) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json_bytes(entry: dict[str, Any]) -> bytes:
    """An entry as the API writes it, once, for every later read of its head."""
    return orjson.dumps(entry, default=_default, option=_OPTIONS)


def _fact(entry: dict[str, Any]) -> Fact:
    return (entry["event_id"], entry["channel"], entry["type"], int(entry["schema_version"]),
            epoch_ms(entry["occurred_at"]))  # fmt: skip


def _masked_text(masker: Masker, text: bytes, fact: Fact) -> Any:
    """A kept entry as this role may read it: its JSON as it is unless its type has
    personal data to mask, then parsed and masked."""
    if not masker.masks(fact[2], fact[3]):
        return orjson.Fragment(text)
    return _masked_entry(masker, orjson.loads(text))


def _masked_entry(masker: Masker, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as this role may read it; the entry itself when nothing is masked in it
    (copying every entry of every page was an eighth of a first read's CPU)."""
    payload = masker.payload(entry["type"], entry.get("schema_version", 1), entry["payload"])
    return entry if payload is entry["payload"] else {**entry, "payload": payload}


async def _events(
    deps: QueryDeps, request: Request, key: ApiKey, customer: uuid.UUID, masker: Masker
) -> AsyncIterator[bytes]:
    """Server-sent events: new timeline entries and score changes, as they are projected.

    The store is read when the projector has written one of the customer's
    ids (survivor or alias), and at the latest every ``stream_poll_s`` as a
    safety net; in between the stream only checks, each second, that the
    agent is still there.
    """
    since = datetime.now(UTC)
    last_score: Any = None
    beat = last_read = time.monotonic()
    yield b": connected\n\n"
    with deps.changes.subscribe([(key.tenant, str(customer))]) as changed:
        written = True
        while not await request.is_disconnected():
            if written or time.monotonic() - last_read >= deps.stream_poll_s:
                last_read = time.monotonic()
                resolution = await _lookup(deps, key.tenant, customer)
                ids = resolution.ids if resolution is not None else (str(customer),)
                changed.watch((key.tenant, i) for i in ids)  # a merge may have added an alias
                entries, since = await deps.read(reads.changes_since, key.tenant, ids, since)
                for entry in entries:
                    yield _sse("touchpoint", _masked_entry(masker, entry))
                score = await deps.read(reads.current_score, key.tenant, customer)
                if score is not None and score != last_score:
                    if last_score is not None:
                        yield _sse("score", score)
                    last_score = score
            if time.monotonic() - beat > 15:
                beat = time.monotonic()
                yield b": keep-alive\n\n"
            written = await changed.wait(1.0)


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(_jsonable(data)) + b"\n\n"


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


_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _jsonable(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=_default, option=_OPTIONS))


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body, default=_default, option=_OPTIONS),
                    media_type="application/json")  # fmt: skip
