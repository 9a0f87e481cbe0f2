"""Two stream workers on one host with the default settings: both get partitions, nothing doubles.

Each claims its own slot (table folder and metrics port) in the shared data
dir, where a second worker used to crash on the first one's RocksDB lock.
The group settles before events arrive, so no batch is redone by a rebalance
and every event is resolved exactly once.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from events.contracts.heartbeat import Heartbeat
from events.topics import HEARTBEATS, IDENTITY_COMMANDS, RESOLVED, TOUCHPOINTS
from services.platform.heartbeats import instance_id
from services.platform.settings import Settings
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from tests import samples
from tests.support import (
    TOUCHLINE,
    base_env,
    end_offsets,
    free_port,
    random_tenant,
    read_since,
    start_group_at_end,
    stop_processes,
    wait_until,
)


@pytest.fixture
def two_workers(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[list[int], int, Path]]:
    group, metrics_port = f"two-{random_tenant()}", free_port()
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(tmp_path), TOUCHLINE_WORKER_GROUP=group,
                   TOUCHLINE_WORKER_METRICS_PORT=str(metrics_port))  # fmt: skip
    asyncio.run(
        start_group_at_end(kafka_bootstrap, group, [TOUCHPOINTS, RESOLVED, IDENTITY_COMMANDS])
    )
    workers = []
    for n in range(2):
        with (tmp_path / f"worker{n}.log").open("wb") as out:
            workers.append(subprocess.Popen([TOUCHLINE, "worker", "--loglevel", "warning"],
                                            env=env, stdout=out, stderr=subprocess.STDOUT))  # fmt: skip
    try:
        yield [w.pid for w in workers], metrics_port, tmp_path
    finally:
        stop_processes(workers)


def _partitions_of(bootstrap: str, pids: list[int]) -> dict[int, list[int]]:
    """Each worker's touchpoints partitions, from its newest heartbeat."""
    wanted = {instance_id(pid): pid for pid in pids}
    newest: dict[int, Heartbeat] = {}
    for record in asyncio.run(read_since(bootstrap, {}, HEARTBEATS)):
        beat = Heartbeat.decode(record.value)
        if beat.instance in wanted:
            newest[wanted[beat.instance]] = beat
    return {pid: list(b.detail.get("touchpoints_partitions", [])) for pid, b in newest.items()
            if b.state == "running"}  # fmt: skip


def test_two_workers_on_one_host_share_the_partitions_and_resolve_each_event_once(
    kafka_bootstrap: str, two_workers: tuple[list[int], int, Path]
) -> None:
    pids, metrics_port, data = two_workers

    def both_have_partitions() -> bool:
        found = _partitions_of(kafka_bootstrap, pids)
        return len(found) == 2 and all(found.values())

    wait_until(both_have_partitions, 180, "both workers to hold partitions", 2.0)
    shares = _partitions_of(kafka_bootstrap, pids)
    assert not set(shares[pids[0]]) & set(shares[pids[1]]), shares
    assert sorted(shares[pids[0]] + shares[pids[1]]) == list(range(12)), shares
    assert (data / "faust" / "worker-0").is_dir() and (data / "faust" / "worker-1").is_dir()
    for port in (metrics_port, metrics_port + 1):  # each worker serves its own metrics
        assert "touchline_stage_events_processed_total" in httpx.get(
            f"http://127.0.0.1:{port}/metrics", timeout=5).text  # fmt: skip

    tenant = random_tenant()
    events = [samples.call_completed(identities={"phone": f"+1415556{n:04d}"}) for n in range(120)]
    since = asyncio.run(end_offsets(kafka_bootstrap, RESOLVED))
    summary = PublishSummary()
    lines = [Line(i, e) for i, e in enumerate(events, 1)]
    settings = Settings.from_env(base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(data)))
    asyncio.run(publish_kafka(lines, kafka_bootstrap, tenant, "US", summary, settings=settings))
    assert summary.accepted == 120

    def resolved() -> Counter[str]:
        records = asyncio.run(read_since(kafka_bootstrap, since, RESOLVED))
        bodies = [orjson.loads(r.value) for r in records]
        return Counter(
            b["event_id"] for b in bodies if b.get("tenant") == tenant and "event_id" in b
        )

    wait_until(lambda: len(resolved()) == 120, 120, "every event to be resolved", 1.0)
    counts = resolved()
    assert set(counts) == {e["event_id"] for e in events}
    assert set(counts.values()) == {1}, "no event resolved twice"
