"""``touchline status``: every stage and instance of a running system, from their heartbeats.

It reads the heartbeats topic, so it sees every process on every host that
talks to the broker, without knowing their ports. Exit status 0 when the
worker and projector are up, 3 when one is not, 1 when the broker is
unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TextIO

from events.contracts.heartbeat import Heartbeat
from services.platform.heartbeats import PROCESSING_STAGES, HealthView, now_ms, stage_health
from services.platform.settings import Settings

EXIT_DOWN = 3


def run_status(settings: Settings, out: TextIO = sys.stdout) -> int:
    try:
        beats = asyncio.run(_read(settings.kafka_bootstrap))
    except TimeoutError:
        print(f"status: no answer from Kafka at {settings.kafka_bootstrap}", file=sys.stderr)
        return 1
    at = now_ms()
    print(_table(beats, at), file=out)
    health = {name: stage_health(name, beats, at) for name in PROCESSING_STAGES}
    for name, stage in health.items():
        if stage.state != "up":
            print(f"{name}: {stage.state} ({stage.reason})", file=out)
    return 0 if all(h.state == "up" for h in health.values()) else EXIT_DOWN


async def _read(bootstrap: str) -> list[Heartbeat]:
    view = HealthView(bootstrap, history_s=120)
    view.start()
    try:
        await asyncio.wait_for(view.caught_up.wait(), 15)
    finally:
        with contextlib.suppress(Exception):
            await view.stop()
    return list(view.beats.values())


def _table(beats: list[Heartbeat], at: int) -> str:
    header = (
        "STAGE",
        "INSTANCE",
        "STATE",
        "LAG",
        "EVENTS/S (1 MIN)",
        "PROCESSED",
        "DEAD",
        "LAST ERROR",
    )
    rows = [header]
    for beat in sorted(beats, key=lambda b: (b.stage, b.instance)):
        state = "gone" if beat.stale(at) and beat.state in ("starting", "running") else beat.state
        if beat.state == "exited":
            state = str(beat.detail.get("exit", "exited"))
        error = ""
        if beat.last_error and beat.last_error_at_ms:
            error = f"{(at - beat.last_error_at_ms) // 1000} s ago: {beat.last_error}"[:80]
        rows.append(
            (
                beat.stage,
                beat.instance,
                state,
                str(sum(beat.lag.values())),
                f"{beat.rate_1m:.1f}",
                str(beat.processed),
                str(beat.dead_letters),
                error,
            )
        )
    if len(rows) == 1:
        return "no heartbeats in the last 2 minutes: is anything running?"
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
