"""Rebuilding a projection from the log, then swapping it in atomically.

``touchline replay touchpoints`` projects ``touchpoints.resolved`` from offset
0 into a new table version (``touchpoints__rebuild``, with its own dedup
index), catches up with the log's end a second time, then runs ``EXCHANGE
TABLES``: readers see the old table until the swap and the new one after it,
never a half-built one. The materialized views follow the *name*
``touchpoints`` (measured on chDB), so the rebuild does not feed the
aggregates twice. The checksum is order-free and reads each event's customer
through ``customer_aliases``: a live projection and a replay may keep
different copies of an event the worker re-emitted after a crash (under an
alias or under its survivor), and they are the same person.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from events.topics import RESOLVED
from projections.flushes import Flush
from projections.log import end_offsets
from projections.opening import Opener
from projections.projector import Projector, ProjectorConfig
from projections.serving_index import forget_mark
from projections.store import ProjectionStore

REPLAYABLE = {
    "touchpoints": (
        RESOLVED,
        ("touchpoints", "touchpoint_ids", "profile_fields", "customer_names"),
    )
}


class ReplayError(ValueError):
    """The projection cannot be replayed (the message says why)."""


@dataclass(frozen=True)
class Checksum:
    rows: int
    digest: int

    def __str__(self) -> str:
        return f"{self.rows} rows, checksum {self.digest:016x}"


def checksum(store: ProjectionStore, projection: str, table: str | None = None) -> Checksum:
    if projection not in REPLAYABLE:
        raise ReplayError(f"no checksum for {projection!r} (one of {', '.join(REPLAYABLE)})")
    rows = store.query_rows(
        f"""
        SELECT count(), ifNull(groupBitXor(cityHash64(t.tenant, toString(t.event_id),
               t.occurred_at, t.type, t.channel, t.summary, t.payload, t.source,
               toString(if(a.survivor IS NULL, t.customer_id, a.survivor)))), 0)
        FROM {table or projection} AS t
        LEFT JOIN (SELECT tenant, alias_id, argMax(survivor_id, version) AS survivor
                   FROM customer_aliases GROUP BY tenant, alias_id) AS a
          ON t.tenant = a.tenant AND t.customer_id = a.alias_id
        SETTINGS join_use_nulls = 1
        """
    )
    return Checksum(int(rows[0][0]), int(rows[0][1]))  # an empty table: 0 rows, digest 0


def replay(
    store: ProjectionStore,
    bootstrap: str,
    projection: str,
    progress: Callable[[int, int], None] | None = None,
    live_writes: threading.Lock | None = None,
    opener: Opener | None = None,
    precedence: Sequence[str] = (),
) -> Checksum:
    """Rebuild ``projection`` from its topic and swap it in; return the new table's checksum.

    ``live_writes`` is held by a live projector while it writes a flush (the
    projection service's). The last catch-up and the swap run holding it, so
    no live flush lands in the old table between the rebuild's end and the
    swap; what the live projector had read but not written goes into the new
    table afterwards, where its dedup stage finds it already projected.
    """
    if projection not in REPLAYABLE:
        raise ReplayError(f"cannot replay {projection!r} (one of {', '.join(REPLAYABLE)})")
    topic, tables = REPLAYABLE[projection]
    rename = {t: f"{t}__rebuild" for t in tables}
    for table, new in rename.items():
        store.command(f"DROP TABLE IF EXISTS {new} SYNC")  # now: its data may be an erased one's
        store.command(f"CREATE TABLE {new} AS {table}")
    group = (
        f"touchline-replay-{uuid.uuid4().hex[:12]}"  # a throwaway group: its commits are scratch
    )
    done = 0

    def catch_up() -> None:
        nonlocal done
        ends = asyncio.run(end_offsets(bootstrap, [topic]))
        total = sum(ends.values())

        def report(flush: Flush, written: dict[str, int]) -> None:
            nonlocal done
            done += sum(b - a + 1 for a, b in flush.ranges.values())
            if progress is not None:
                progress(min(done, total), total)

        config = ProjectorConfig(
            group, topics=[topic], rename=rename, until=ends, precedence=precedence
        )
        projector = Projector(store, bootstrap, config, on_flush=report, opener=opener)
        asyncio.run(projector.run())

    catch_up()  # most of the log, while the live projection keeps serving and writing
    with live_writes or contextlib.nullcontext():
        catch_up()  # what arrived meanwhile; then swap before any live flush can land
        forget_mark(store)  # the agents' serving index mirrors the old tables: rebuild it
        for table, new in rename.items():
            store.command(f"EXCHANGE TABLES {table} AND {new}")
            store.command(
                f"DROP TABLE IF EXISTS {new} SYNC"
            )  # now: its data may be an erased one's
    return checksum(store, projection)
