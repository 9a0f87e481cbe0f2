"""The agent API at scale: timeline p50/p95/p99 for 1 and 50 concurrent agents, and search.

A chDB store is filled with --rows synthetic touchpoints (default 10 M, about
200 per customer) plus each customer's profile and email; ``touchline
projector`` then serves it (first rebuilding its serving index from the
store, which the bench filled behind its back), and concurrent agents read
timelines (the newest 50 entries of a customer no one has read yet, so not
from the service's memory) and search by email over HTTP with keep-alive. A
re-read line reads customers read before, as an agent refreshing during a call
does: those come from the service's memory of recently read customers.

"50 agents" sends each agent's next read as soon as it has its answer (50
requests always in flight: the saturation figure, the one the goal is judged
by); a second line gives the same 50 agents a mean 0.5 s pause between reads.

The baseline, in the same run: the service restarted with the index off
(``TOUCHLINE_SERVING_INDEX=off``), every cold read going to chDB as before.

    .venv/bin/python -m bench.agent_api [--rows 10000000] [--requests 2000] [--crowd-requests 8000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import pyarrow as pa

from bench.common import TOUCHLINE, private_stack, wait_healthy
from bench.http_client import closed_loop
from bench.projections import ms, synthetic_touchpoints
from projections.migrations import apply_migrations
from projections.store import open_projection_store

T = TypeVar("T")


def fill(path: Path, total_rows: int) -> tuple[list[str], list[float]]:
    """The store at ``path`` with ``total_rows`` touchpoints; the customers, and the store's floor.

    The floor is the cheapest read a timeline could make: ``count()`` of one
    customer's rows, straight on chDB with no HTTP or Python around it. Every
    store read waits its turn on the one chDB session, so with 50 agents
    waiting, none can be answered in less than about 50 floors.
    """
    store = open_projection_store(f"chdb://{path}")
    try:
        apply_migrations(store)
        customers = [str(uuid.uuid4()) for _ in range(max(total_rows // 200, 1))]
        start = datetime(2025, 1, 1, tzinfo=UTC)
        for first in range(0, total_rows, 1_000_000):
            n = min(1_000_000, total_rows - first)
            store.insert_arrow(
                "touchpoints", synthetic_touchpoints(n, customers, start, first), None
            )
        now = datetime.now(UTC)
        store.insert_arrow("customers", pa.table({
            "tenant": ["bench"] * len(customers), "customer_id": customers,
            "version": pa.array([1] * len(customers), pa.uint64()),
            "first_seen": pa.array([start] * len(customers), pa.timestamp("ms", tz="UTC")),
            "identities": pa.array([[("email", [f"c{i}@example.com"])] for i in range(len(customers))],
                                   pa.map_(pa.string(), pa.list_(pa.string()))),
            "consent": pa.array([[("email", True)]] * len(customers), pa.map_(pa.string(), pa.bool_())),
            "survivor_id": customers, "erased": [False] * len(customers),
            "updated_at": pa.array([now] * len(customers), pa.timestamp("ms", tz="UTC")),
        }), None)  # fmt: skip
        store.insert_arrow("identities", pa.table({
            "tenant": ["bench"] * len(customers), "kind": ["email"] * len(customers),
            "value": [f"c{i}@example.com" for i in range(len(customers))], "customer_id": customers,
            "version": pa.array([1] * len(customers), pa.uint64()), "linked": [True] * len(customers),
            "updated_at": pa.array([now] * len(customers), pa.timestamp("ms", tz="UTC")),
        }), None)  # fmt: skip
        floor = []
        for customer in random.Random(2).sample(customers, min(300, len(customers))):
            t = time.perf_counter()
            store.query_rows("SELECT count() FROM touchpoints WHERE tenant = {t:String} "
                             "AND customer_id = {c:UUID}", {"t": "bench", "c": customer})  # fmt: skip
            floor.append(time.perf_counter() - t)
        return customers, floor
    finally:
        store.close()


async def agents(
    url: str, token: str, paths: list[str], concurrency: int, think_s: float = 0.0
) -> tuple[list[float], float]:
    """``concurrency`` agents, each with its own keep-alive connection, share the requests.

    The bench's light client, not httpx: 50 httpx clients cost more CPU than the
    server answering them, and on 2 cores the latency measured would be theirs.
    """
    where = urlsplit(url)
    requests = [("GET", path, b"") for path in paths]
    timings, seconds = await closed_loop(where.hostname or "127.0.0.1", where.port or 80,
                                         {"Authorization": f"Bearer {token}"}, requests,
                                         concurrency, expect=200, think_s=think_s)  # fmt: skip
    return timings, len(paths) / seconds


async def with_open_pages(url: str, token: str, customers: list[str], work: Awaitable[T]) -> T:
    """``work``, while an agent page's live stream is open for each of ``customers``."""
    where = urlsplit(url)
    host, port = where.hostname or "127.0.0.1", where.port or 80
    streams = []
    try:
        for customer in customers:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET /v1/customers/{customer}/stream?token={token} HTTP/1.1\r\n"
                         f"Host: {host}\r\n\r\n".encode())  # fmt: skip
            streams.append(writer)
            await reader.readuntil(b": connected\n\n")
        return await work
    finally:
        for writer in streams:
            writer.close()


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[str, float]]:
    """``touchline projector`` on the filled store; its URL, and seconds until its index was ready."""
    server = subprocess.Popen([TOUCHLINE, "projector"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{env['TOUCHLINE_QUERY_PORT']}"
    started = time.monotonic()
    try:
        wait_healthy(url)
        while True:  # the bench filled the store directly: the service rebuilds its index first
            state = httpx.get(url + "/healthz", timeout=10).json()["serving_index"]
            if state["state"] in ("ready", "off"):
                break
            if state["state"] == "failed":
                raise RuntimeError(f"the serving index failed: {state}")
            time.sleep(1)
        yield url, time.monotonic() - started
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--crowd-requests", type=int, default=8000,
                        help="reads in the 50-agent line: at about 1,000/s they span more than "
                        "one of the service's 5 s audit writes, so its figure includes them")  # fmt: skip
    args = parser.parse_args()
    with private_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "clickhouse"
        customers, floor = fill(store_path, args.rows)
        env = {**stack.env, "TOUCHLINE_CLICKHOUSE_URL": f"chdb://{store_path}",
               "TOUCHLINE_SERVING_INDEX": str(Path(tmp) / "serving-index.sqlite3")}  # fmt: skip
        token = subprocess.run([TOUCHLINE, "keys", "create", "--tenant", "bench", "--role", "supervisor"],
                               env=env, capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        rng = random.Random(1)
        # every timeline read below is of a customer not read before (the service keeps
        # recently read customers in memory), except the re-reads, which are meant to be
        order = rng.sample(
            customers, min(len(customers), 100 + args.requests + args.crowd_requests + 200)
        )
        warm, order = order[:100], order[100:]
        alone, order = order[: args.requests // 4], order[args.requests // 4 :]
        watched, order = order[: args.requests // 4], order[args.requests // 4 :]
        bare, order = order[: args.requests // 4], order[args.requests // 4 :]
        paced, order = order[: args.requests // 4], order[args.requests // 4 :]
        crowd, again = order[: args.crowd_requests], order[args.crowd_requests :] or order[:200]

        def page(customer: str) -> str:
            return f"/v1/customers/{customer}/timeline?limit=50"

        search = [f"/v1/customers?query=c{rng.randrange(len(customers))}@example.com"
                  for _ in range(args.requests // 2)]  # fmt: skip
        with serving(env) as (url, built_s):
            asyncio.run(agents(url, token, [page(c) for c in warm], 4))  # warm the pool
            one, one_rate = asyncio.run(agents(url, token, [page(c) for c in alone], 1))
            paged, paged_rate = asyncio.run(with_open_pages(
                url, token, warm[:50], agents(url, token, [page(c) for c in watched], 1)))  # fmt: skip
            fifty, fifty_rate = asyncio.run(agents(url, token, [page(c) for c in crowd], 50))
            # the same 50 agents at a working pace: each reads its answer for 0.5 s on average
            working, working_rate = asyncio.run(
                agents(url, token, [page(c) for c in paced], 50, think_s=0.5))  # fmt: skip
            found, found_rate = asyncio.run(agents(url, token, search, 1))
            asyncio.run(agents(url, token, [page(c) for c in again], 4))  # read once...
            rereads = [page(rng.choice(again)) for _ in range(args.requests)]
            reread, reread_rate = asyncio.run(agents(url, token, rereads, 50))  # ...then again
        # the baseline: the same service reading the store only (no serving index)
        with serving({**env, "TOUCHLINE_SERVING_INDEX": "off"}) as (url, _):
            asyncio.run(agents(url, token, [page(c) for c in warm[:20]], 4))
            store_only, store_rate = asyncio.run(agents(url, token, [page(c) for c in bare], 50))
    print(
        f"agent API benchmark: {args.rows:,} touchpoints, {len(customers):,} customers (chDB, one process)"
    )
    print(
        f"  serving index built from the store in {built_s:,.0f} s (the bench filled the store directly)"
    )
    print(f"  timeline, 1 agent     {ms(one, 50, 95, 99)}   {one_rate:,.0f} req/s")
    print(f"  timeline, 50 agents   {ms(fifty, 50, 95, 99)}   {fifty_rate:,.0f} req/s   "
          f"(customers not read before: resolution and timeline from the serving index; "
          f"{len(fifty):,} reads in {len(fifty) / fifty_rate:,.1f} s)")  # fmt: skip
    print(f"  timeline, 50 agents, 0.5 s think time   {ms(working, 50, 95, 99)}   "
          f"{working_rate:,.0f} req/s   (each agent pauses a mean 0.5 s between reads)")  # fmt: skip
    print(f"  1 agent, 50 pages open {ms(paged, 50, 95, 99)}   {paged_rate:,.0f} req/s   "
          f"(50 other agents' live streams open meanwhile)")  # fmt: skip
    print(f"  search by email       {ms(found, 50, 99)}   {found_rate:,.0f} req/s")
    print(f"  re-read, 50 agents    {ms(reread, 50, 95, 99)}   {reread_rate:,.0f} req/s   "
          f"({len(again)} customers read before: a refresh during a call, from memory)")  # fmt: skip
    print(f"  baseline: timeline, 50 agents, store only (TOUCHLINE_SERVING_INDEX=off)   "
          f"{ms(store_only, 50, 95, 99)}   {store_rate:,.0f} req/s")  # fmt: skip
    print(f"  serving index vs store only, 50 agents: {fifty_rate / store_rate:,.1f}x the requests/s, "
          f"p99 {_p99(fifty) / _p99(store_only):.3f}x")  # fmt: skip
    print(f"  store floor           {ms(floor, 50, 99)}   one customer's count() on chDB, no HTTP: "
          f"50 queued agents wait about {50 * statistics.median(floor) * 1000:,.0f} ms")  # fmt: skip


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


if __name__ == "__main__":
    main()
