"""Live streams wait for the projector to name their customer, not for a timer."""

from __future__ import annotations

import asyncio

from services.query.changes import ChangeFeed

T = "shop"


async def test_a_stream_wakes_for_its_own_ids_only() -> None:
    feed = ChangeFeed()
    with feed.subscribe([(T, "survivor")]) as stream:
        feed.notify({(T, "someone-else"), ("other-tenant", "survivor")})
        assert not await stream.wait(0.05)
        feed.notify({(T, "survivor")})
        assert await stream.wait(0.05)
        assert not await stream.wait(0.05)  # told once per write
    assert len(feed) == 0


async def test_a_write_during_a_read_is_not_missed() -> None:
    feed = ChangeFeed()
    with feed.subscribe([(T, "survivor")]) as stream:
        feed.notify({(T, "survivor")})  # lands while the stream is busy reading
        await asyncio.sleep(0)
        assert await stream.wait(0.05)


async def test_an_alias_added_by_a_merge_is_followed() -> None:
    feed = ChangeFeed()
    with feed.subscribe([(T, "survivor")]) as stream:
        stream.watch([(T, "survivor"), (T, "alias")])
        feed.notify({(T, "alias")})
        assert await stream.wait(0.05)
        feed.notify_all()
        assert await stream.wait(0.05)
    assert len(feed) == 0
