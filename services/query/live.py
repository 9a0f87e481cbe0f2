"""A customer's live stream: server-sent ``touchpoint`` and ``score`` events as they are projected.

The store is read when the projector has written one of the customer's ids
(survivor or alias), and at the latest every ``stream_poll_s`` as a safety
net; in between the stream only checks, each second, that the agent is
still there, and every ``KEY_CHECK_S`` that its key has not been revoked: a
revoked key's stream says so and ends (within 5 s of the revocation).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from projections import reads
from services.auth.keys import ApiKey
from services.query.deps import QueryDeps
from services.query.entries import masked_entry, sse
from services.query.masking import Masker

KEY_CHECK_S = 2.0


async def live_events(
    deps: QueryDeps, request: Request, key: ApiKey, customer: uuid.UUID, masker: Masker
) -> AsyncIterator[bytes]:
    since = datetime.now(UTC)
    last_score: Any = None
    beat = last_read = checked = time.monotonic()
    yield b": connected\n\n"
    with deps.changes.subscribe([(key.tenant, str(customer))]) as changed:
        written = True
        while not await request.is_disconnected():
            if time.monotonic() - checked >= KEY_CHECK_S:
                checked = time.monotonic()
                if not await asyncio.to_thread(deps.keys.is_active, key.key_id):
                    yield sse("revoked", {"reason": "this key was revoked"})
                    return
            if written or time.monotonic() - last_read >= deps.stream_poll_s:
                last_read = time.monotonic()
                resolution = await deps.reader.resolve(key.tenant, customer)
                ids = resolution.ids if resolution is not None else (str(customer),)
                changed.watch((key.tenant, i) for i in ids)  # a merge may have added an alias
                entries, since = await deps.read(reads.changes_since, key.tenant, ids, since)
                for entry in entries:
                    yield sse("touchpoint", masked_entry(masker, entry))
                score = await deps.read(reads.current_score, key.tenant, customer)
                if score is not None and score != last_score:
                    if last_score is not None:
                        yield sse("score", score)
                    last_score = score
            if time.monotonic() - beat > 15:
                beat = time.monotonic()
                yield b": keep-alive\n\n"
            written = await changed.wait(1.0)
