"""Ingest throughput: HTTP batches, single-event requests, the Publisher, and raw aiokafka.

Every mode runs in one process against the same private broker, on the same
events (each mode gets fresh event ids so no mode is answered from the
duplicate cache). Raw aiokafka sends the exact bytes ingest would write
(serialized once, ahead of time), with an idempotent acks=all producer, once
the fast way (``send_batch``, the baseline: the ceiling for getting these
events durable in Kafka from Python) and once the common way (``send()`` per
record).

    .venv/bin/python -m bench.ingest [--events N] [--singles N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench.common import Stack, percentiles, private_stack, valid_events
from bench.http_client import closed_loop
from events.intake import EventIntake, PreparedEvent
from events.records import record_of
from events.timestamps import now_utc
from events.topics import TOUCHPOINTS
from services.kafka.batch_send import send_batched
from services.publishing.publisher import Publisher


def fresh_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "event_id": str(uuid.uuid4())} for e in events]


def prepared_values(events: list[dict[str, Any]]) -> list[PreparedEvent]:
    """The exact records ingest would write for these events (serialized once, not timed)."""
    results = EventIntake("US").prepare_batch(list(fresh_ids(events)), "bench", now_utc())
    return [p for p in results if isinstance(p, PreparedEvent)]


async def raw_producer(stack: Stack) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.settings.kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    return producer


async def raw_send(stack: Stack, events: list[dict[str, Any]]) -> float:
    """Raw aiokafka the common way: one ``send()`` per record, then wait for all."""
    prepared = prepared_values(events)
    producer = await raw_producer(stack)
    try:
        start = time.perf_counter()
        futures = [await producer.send(TOUCHPOINTS, p.value, p.key) for p in prepared]
        await asyncio.gather(*futures)
        return len(prepared) / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def raw_batches(stack: Stack, events: list[dict[str, Any]]) -> float:
    """Raw aiokafka the fast way: one record batch per partition (``send_batch``)."""
    records = [record_of(p) for p in prepared_values(events)]
    producer = await raw_producer(stack)
    try:
        start = time.perf_counter()
        for i in range(0, len(records), 5000):
            await asyncio.gather(*await send_batched(producer, TOUCHPOINTS, records[i : i + 5000]))
        return len(records) / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def publisher_class(stack: Stack, events: list[dict[str, Any]]) -> float:
    batch = fresh_ids(events)
    async with Publisher(stack.settings.kafka_bootstrap, "bench", compression=None,
                         settings=stack.settings) as publisher:  # fmt: skip
        start = time.perf_counter()
        for i in range(0, len(batch), 1000):
            await publisher.publish_many(batch[i : i + 1000])
        return len(batch) / (time.perf_counter() - start)


async def http(
    stack: Stack, events: list[dict[str, Any]], per_request: int, concurrency: int
) -> tuple[float, list[float]]:
    """POST ``events`` in requests of ``per_request`` over ``concurrency`` keep-alive connections."""
    chunks = [fresh_ids(events[i : i + per_request]) for i in range(0, len(events), per_request)]
    bodies = [orjson.dumps(c[0] if per_request == 1 else c) for c in chunks]
    headers = {"Authorization": f"Bearer {stack.key}", "Content-Type": "application/json"}
    requests = [("POST", "/v1/events", body) for body in bodies]
    latencies, seconds = await closed_loop("127.0.0.1", stack.settings.http_port, headers,
                                           requests, concurrency, expect=202)  # fmt: skip
    return len(events) / seconds, latencies


def line(label: str, rate: float, base: float, extra: str = "") -> str:
    return f"  {label:<46}{rate:>9,.0f} events/s  {rate / base:5.2f}x  {extra}"


async def run(stack: Stack, n: int, singles: int, rounds: int) -> None:
    events = valid_events(n)
    await raw_batches(stack, events[:3000])  # warm up the broker, page cache and connections
    results: dict[str, list[tuple[float, list[float]]]] = {}
    modes = {
        "raw": lambda: _timed(raw_batches(stack, events)),
        "send": lambda: _timed(raw_send(stack, events)),
        "publisher": lambda: _timed(publisher_class(stack, events)),
        "http100": lambda: http(stack, events, 100, 8),
        "http1": lambda: http(stack, events[:singles], 1, 32),
    }
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits every mode alike
        for name, mode in modes.items():
            results.setdefault(name, []).append(await mode())
    best = {name: _median_run(runs) for name, runs in results.items()}
    raw = best["raw"][0]
    size = sum(len(orjson.dumps(e)) for e in events) // n
    print(
        f"ingest benchmark: {n:,} simulated events (~{size} bytes each), {singles:,} for single requests;"
    )
    print(f"one local broker; median of {rounds} interleaved rounds")
    print(line("raw aiokafka send_batch (acks=all, idempotent)", raw, raw, "(baseline)"))
    print(line("raw aiokafka send() per record", best["send"][0], raw))
    print(line("Publisher class (validate + send)", best["publisher"][0], raw))
    rate, lat = best["http100"]
    print(line("HTTP batches of 100, 8 connections", rate, raw, f"request {percentiles(lat)}"))
    rate, lat = best["http1"]
    print(line("HTTP single events, 32 connections", rate, raw, f"request {percentiles(lat)}"))


async def _timed(rate: Awaitable[float]) -> tuple[float, list[float]]:
    return await rate, []


def _median_run(runs: list[tuple[float, list[float]]]) -> tuple[float, list[float]]:
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--singles", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with private_stack() as stack:
        asyncio.run(run(stack, args.events, args.singles, args.rounds))


if __name__ == "__main__":
    main()
