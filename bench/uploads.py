"""Upload throughput: a customer export through ``POST /v1/imports`` against the conversion alone.

Generates the Japanese CRM export ``bench.imports`` uses, converts it in this process (the
baseline: read + map + normalize + prepare, no broker), then uploads it to a private API and
broker and polls the job until it is done: rows per second from the upload's start to the job's
end, and the ratio to the conversion alone. The job converts in a thread of the API process and
appends on its loop, one Kafka transaction per batch of whole rows.

    .venv/bin/python -m bench.uploads [--rows 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import private_stack
from bench.imports import convert, line, write_export


def upload(url: str, key: str, path: Path) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    with path.open("rb") as f:
        response = httpx.post(url + "/v1/imports", files={"file": (path.name, f)},
                              data={"kind": "customers", "source": "bench"},
                              headers={"Authorization": f"Bearer {key}"}, timeout=120)  # fmt: skip
    response.raise_for_status()
    job_url = f"{url}/v1/imports/{response.json()['job_id']}"
    while True:
        job: dict[str, Any] = httpx.get(job_url, headers={"Authorization": f"Bearer {key}"}).json()
        if job["status"] in ("done", "failed"):
            return job, time.perf_counter() - started
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        write_export(path, args.rows)
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB, CP932)")
        base, base_s = convert(path)
        base_rate = base.rows_read / base_s
        print(line("conversion alone (this process)", base_rate, 1.0))
        with private_stack() as stack:
            job, seconds = upload(stack.url, stack.key, path)
        assert job["status"] == "done", job
        progress = job["progress"]
        assert progress["events_sent"] == base.events_sent, (progress, base.events_sent)
        rate = progress["rows_read"] / seconds
        print(line(f"upload to done ({seconds:.0f} s, {progress['events_sent']:,} events)", rate, rate / base_rate))  # fmt: skip


if __name__ == "__main__":
    main()
