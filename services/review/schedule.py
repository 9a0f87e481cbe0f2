"""The review queue refreshed on a schedule: the matcher over every tenant's customers."""

from __future__ import annotations

import asyncio
import logging

from services.review.queue import ReviewQueue

log = logging.getLogger(__name__)


async def review_every(queue: ReviewQueue, every_s: int) -> None:
    """Every ``every_s`` seconds (0: never), each tenant in turn, on a thread; the first run a
    minute after start (the demo's customers are projected by then), not a whole period.

    A failed run is logged with its cause and tried again at the next tick: the queue is
    advice for people, and the suggestions already kept stay as they were.
    """
    if every_s <= 0:
        return
    wait = min(every_s, 60)
    while True:
        await asyncio.sleep(wait)
        wait = every_s
        for tenant in await asyncio.to_thread(tenants, queue):
            try:
                found = await asyncio.to_thread(queue.refresh, tenant)
            except Exception:
                log.exception("review queue: the matcher failed for tenant %s", tenant)
            else:
                log.info("review queue: %d open suggestions for tenant %s", found, tenant)


def tenants(queue: ReviewQueue) -> list[str]:
    rows = queue.store.query_rows("SELECT DISTINCT tenant FROM customers ORDER BY tenant")
    return [str(t) for (t,) in rows]
