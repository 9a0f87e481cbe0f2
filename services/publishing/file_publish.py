"""``touchline publish FILE.ndjson``: send a file of events, line by line accounted for.

Every line ends up accepted (new or duplicate) or rejected with its reason;
a line is never silently skipped. Over HTTP, a batch the API refuses because of
some events is re-sent without them, since the API writes a batch all or
nothing. Unavailability (503, connection errors) is retried with backoff; if it
persists the command stops and says how far it got.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import orjson

from events.privacy.protector import EnvelopeProtector
from events.problems import EventRejected
from services.attributes.sqlite import read_attribute_rules
from services.platform.settings import Settings
from services.publishing.publisher import Publisher


@dataclass
class Line:
    number: int
    event: Any


@dataclass
class PublishSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    failed: str | None = None

    def report(self, out: TextIO, limit: int = 20) -> None:
        print(
            f"accepted {self.accepted} (of which {self.duplicates} duplicates), rejected {len(self.rejected)}",
            file=out,
        )
        for number, reason in self.rejected[:limit]:
            print(f"  line {number}: {reason}", file=out)
        if len(self.rejected) > limit:
            print(f"  ... and {len(self.rejected) - limit} more", file=out)
        if self.failed:
            print(f"stopped: {self.failed}", file=out)
        elif self.rejected:
            print(
                f"not every line was published: {len(self.rejected)} rejected (exit status 1)",
                file=out,
            )


class PublishFailed(RuntimeError):
    """The destination stayed unavailable or refused the whole request (auth, size)."""


def read_ndjson(path: Path, summary: PublishSummary) -> Iterator[Line]:
    """Parsed lines; unparseable ones go to ``summary.rejected`` with the parser's message."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield Line(number, orjson.loads(raw))
            except orjson.JSONDecodeError as exc:
                summary.rejected.append((number, f"invalid JSON: {exc}"))


def chunked(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    chunk: list[Line] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class HttpSender:
    """Posts chunks to /v1/events, splitting out the events the API names as refused."""

    def __init__(self, client: httpx.AsyncClient, key: str, retries: int = 8) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.retries = retries

    async def send(self, chunk: list[Line], summary: PublishSummary) -> None:
        while chunk:
            response = await self._post(chunk)
            if response.status_code == 202:
                body = response.json()
                summary.accepted += body["accepted"]
                summary.duplicates += len(body["duplicates"])
                return
            chunk = self._drop_refused(chunk, response, summary)

    async def _post(self, chunk: list[Line]) -> httpx.Response:
        body = orjson.dumps([line.event for line in chunk])
        delay = 0.5
        for _ in range(self.retries):
            try:
                response = await self.client.post("/v1/events", content=body, headers=self.headers)
            except httpx.TransportError as exc:
                reason = f"cannot reach the API: {exc!r}"
            else:
                if response.status_code != 503:
                    return response
                reason = response.json().get("message", "503")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
        raise PublishFailed(f"gave up after {self.retries} tries: {reason}")

    @staticmethod
    def _drop_refused(
        chunk: list[Line], response: httpx.Response, summary: PublishSummary
    ) -> list[Line]:
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        per_event = [e for e in body.get("errors", []) if "index" in e]
        if response.status_code not in (403, 422) or not per_event:
            raise PublishFailed(
                f"HTTP {response.status_code}: {body.get('message', response.text[:200])}"
            )
        reasons: dict[int, list[str]] = {}
        for error in per_event:
            reasons.setdefault(error["index"], []).append(
                f"{error['pointer'] or '/'}: {error['message']}"
            )
        for index, why in sorted(reasons.items()):
            summary.rejected.append((chunk[index].number, "; ".join(why)))
        return [line for i, line in enumerate(chunk) if i not in reasons]


async def publish_http(
    lines: Iterable[Line],
    url: str,
    key: str,
    summary: PublishSummary,
    batch: int = 500,
    progress: Any = None,
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        sender = HttpSender(client, key)
        for chunk in chunked(lines, batch):
            await sender.send(chunk, summary)
            if progress is not None:
                progress.update(len(chunk))


async def publish_kafka(
    lines: Iterable[Line],
    bootstrap: str,
    tenant: str,
    region: str,
    summary: PublishSummary,
    batch: int = 500,
    progress: Any = None,
    protector: EnvelopeProtector | None = None,
    settings: Settings | None = None,
) -> None:
    settings = settings or Settings.from_env()
    declared = read_attribute_rules(settings.attributes_db_path)  # as ingest checks them
    async with Publisher(
        bootstrap,
        tenant,
        default_region=region,
        protector=protector,
        settings=settings,
        attributes=declared,
    ) as publisher:
        for chunk in chunked(lines, batch):
            good = []
            for line in chunk:
                try:
                    good.append(publisher.prepare([line.event])[0])
                except EventRejected as exc:
                    summary.rejected.append((line.number, str(exc)))
            await publisher.send_prepared(good)
            summary.accepted += len(good)
            if progress is not None:
                progress.update(len(chunk))
