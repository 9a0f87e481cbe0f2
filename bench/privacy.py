"""Crypto-shredding cost: CPU µs per event to seal and to open a realistic batch, against not sealing.

Simulated events (``bench.common.valid_events``) are prepared by intake once (not timed);
then, per batch of ``--batch``: the baseline serializes them as ingest does today, and the
sealed modes seal then serialize (or decode then open), through a ``CachedKeyStore`` over
the SQLite key store. "cold, new keys" creates every subject's key (one durable
transaction per batch); "cold" finds them in the store with an empty cache; "warm" has
them all cached. Intake's own cost is printed for scale: ingest pays it per event anyway.

    .venv/bin/python -m bench.privacy [--events N] [--batch N]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.common import valid_events
from events.intake import EventIntake, PreparedEvent
from events.privacy.cache import CachedKeyStore
from events.privacy.kek import Keyring
from events.privacy.protector import EnvelopeProtector
from events.timestamps import now_utc
from services.identity.rules import IdentityRules
from services.privacy.sqlite import SqliteKeyStore

Batches = list[list[dict[str, Any]]]


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call.

    What exists before is frozen out of the garbage collector's sight: a service holds
    one batch at a time, not the whole data set, and the collector would otherwise
    walk every envelope of the run over and over.
    """
    gc.collect()
    gc.freeze()
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def envelopes(count: int, batch: int) -> tuple[Batches, float]:
    """The envelopes intake logs today, in batches, and intake's CPU µs per event."""
    intake, raws = EventIntake("US"), valid_events(count)
    intake.prepare_batch(raws[:100], "bench", now_utc())  # compile the validators first
    results: list[PreparedEvent | Any] = []
    cpu, _ = timed(lambda: results.extend(intake.prepare_batch(raws, "bench", now_utc())))
    out = [orjson.loads(p.value) for p in results if isinstance(p, PreparedEvent)]
    return [out[i : i + batch] for i in range(0, len(out), batch)], cpu / len(out) * 1e6


def seal_all(protector: EnvelopeProtector, batches: Batches) -> list[list[bytes]]:
    return [[orjson.dumps(e) for e in protector.seal_batch(b)] for b in batches]


def open_all(protector: EnvelopeProtector, sealed: Sequence[Sequence[bytes]]) -> None:
    for batch in sealed:
        protector.open_batch([orjson.loads(v) for v in batch])


def run(count: int, batch: int, workdir: Path) -> list[tuple[str, float, float]]:
    batches, intake_us = envelopes(count, batch)
    n = sum(map(len, batches))
    keyring, path, rules = Keyring.generate(), workdir / "privacy.sqlite3", IdentityRules()
    store = SqliteKeyStore(path, keyring)

    def protector() -> EnvelopeProtector:  # a fresh cache: nothing held in memory
        return EnvelopeProtector(CachedKeyStore(store), is_junk=rules.is_junk)

    rows: list[tuple[str, float, float]] = [("intake prepare (for scale)", intake_us, 0.0)]
    base_cpu, base_wall = timed(lambda: [[orjson.dumps(e) for e in b] for b in batches])
    rows.append(("not sealing (serialize only)", base_cpu / n * 1e6, base_wall / n * 1e6))
    sealed: list[list[bytes]] = []
    modes = [("seal, cold, new keys", protector()), ("seal, cold (keys in store)", protector())]
    for name, p in modes:
        cpu, wall = timed(lambda p=p: sealed.__setitem__(slice(None), seal_all(p, batches)))  # type: ignore[misc]
        rows.append((name, cpu / n * 1e6, wall / n * 1e6))
    warm = modes[-1][1]
    cpu, wall = timed(lambda: seal_all(warm, batches))
    rows.append(("seal, warm", cpu / n * 1e6, wall / n * 1e6))
    cpu, wall = timed(lambda: open_all(protector(), sealed))
    rows.append(("decode + open, cold", cpu / n * 1e6, wall / n * 1e6))
    cpu, wall = timed(lambda: open_all(warm, sealed))
    rows.append(("decode + open, warm", cpu / n * 1e6, wall / n * 1e6))
    cpu, wall = timed(lambda: [[orjson.loads(v) for v in b][-1] for b in sealed])
    rows.append(("decode only (for scale)", cpu / n * 1e6, wall / n * 1e6))
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="touchline-bench-privacy-") as tmp:
        rows = run(args.events, args.batch, Path(tmp))
    print(
        f"crypto-shredding, {args.events:,} simulated events in batches of {args.batch}"
        " (SQLite key store, AES-256-GCM)"
    )
    print(f"  {'':34} {'CPU µs/event':>13} {'wall µs/event':>14}")
    for name, cpu, wall in rows:
        print(f"  {name:34} {cpu:>13.2f} {wall:>14.2f}" if wall else f"  {name:34} {cpu:>13.2f}")
    by = {name: cpu for name, cpu, _ in rows}
    extra = by["seal, warm"] - by["not sealing (serialize only)"]
    intake = by["intake prepare (for scale)"]
    print(
        f"  sealing adds {extra:.2f} µs/event warm: intake + sealing runs at"
        f" {intake / (intake + extra):.2f}x of intake alone (HTTP and Kafka costs come on top of both)"
    )


if __name__ == "__main__":
    main()
