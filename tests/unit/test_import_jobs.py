"""Upload jobs: whole rows per batch, what a job that stops counts as imported, the job store."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import orjson

from events.intake import PreparedEvent
from services.imports.job_runner import ImportJobs
from services.imports.jobs import Job
from services.imports.planning import Doors, ImportRequest
from services.imports.sqlite_jobs import SqliteJobStore
from services.kafka.event_log import LogUnavailable

ROWS = 7
CSV = "Customer ID,Email,Accepts Email Marketing\n" + "".join(
    f"C{i},c{i}@example.com,yes\n" for i in range(ROWS)
)  # two events a row: the profile and the consent


class FlakyLog:
    """Takes ``good`` batches, then is unavailable for good."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.batches: list[list[PreparedEvent]] = []

    async def append(self, events: list[PreparedEvent]) -> None:
        if len(self.batches) >= self.good:
            raise LogUnavailable("Kafka is unavailable: test")
        self.batches.append(events)


def start(tmp_path: Path, log: FlakyLog, tenant: str = "acme") -> tuple[ImportJobs, Job, Path]:
    store = SqliteJobStore(tmp_path / "imports" / "jobs.sqlite3")
    jobs = ImportJobs(store, tmp_path / "imports", Doors("US"), log.append,
                      batch_events=3, retries_s=(0.0,))  # fmt: skip
    upload = tmp_path / "imports" / "j1" / "upload.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text(CSV)
    job = Job("j1", tenant, "customers", "crm.csv", "digest", "2025-01-01T00:00:00.000Z")
    jobs.reserve()
    request = ImportRequest(upload, "customers", tenant, as_of=job.as_of, file_name="crm.csv")
    jobs.submit(job, request)
    return jobs, job, upload


async def finished(jobs: ImportJobs, job_id: str) -> Job:
    for _ in range(200):
        found = jobs.store.get("acme", job_id)
        if found is not None and found.status in ("done", "failed"):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the job did not finish")


async def test_a_job_sends_whole_rows_and_counts_them(tmp_path: Path) -> None:
    log = FlakyLog(good=100)
    jobs, job, upload = start(tmp_path, log)
    done = await finished(jobs, job.job_id)
    assert done.status == "done", done.error
    assert done.progress.rows_read == done.progress.rows_imported == ROWS
    assert done.progress.events_sent == 2 * ROWS
    assert all(len(batch) % 2 == 0 for batch in log.batches)  # a row's two events together
    assert not upload.exists()  # the upload holds personal data: gone when the job ends
    assert jobs.report_path(job.job_id).read_text(encoding="utf-8-sig").strip() == "row,column,problem"  # fmt: skip
    for _ in range(jobs.max_pending):
        jobs.reserve()  # the job gave its place back


async def test_a_job_that_loses_kafka_counts_only_the_rows_in_the_log(tmp_path: Path) -> None:
    log = FlakyLog(good=2)
    jobs, job, upload = start(tmp_path, log)
    failed = await finished(jobs, job.job_id)
    assert failed.status == "failed"
    assert failed.error is not None and "upload the file again" in failed.error
    in_log = collections.Counter(
        orjson.loads(e.value)["identities"]["customer_ref"] for batch in log.batches for e in batch
    )
    assert set(in_log.values()) == {2}  # no row half-imported
    assert failed.progress.rows_imported == len(in_log) < ROWS
    assert failed.progress.events_sent == sum(len(b) for b in log.batches)
    assert not upload.exists()


def test_the_store_keeps_jobs_per_tenant(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    store.add(Job("a", "acme", "customers", "x.csv", "d1", "2025-01-01T00:00:00.000Z", owner="h:1"))
    store.add(Job("b", "acme", "customers", "x.csv", "d1", "2025-02-01T00:00:00.000Z", owner="h:2",
                  created_at="2999-01-01T00:00:00.000Z"))  # fmt: skip
    assert store.get("acme", "a") is not None and store.get("other", "a") is None
    assert store.first_as_of("acme", "d1") == "2025-01-01T00:00:00.000Z"
    assert store.first_as_of("other", "d1") is None
    assert store.abandon(lambda owner: owner == "h:1", "stopped") == 1
    abandoned = store.get("acme", "a")
    assert abandoned is not None and abandoned.status == "failed" and abandoned.error == "stopped"
    kept = store.get("acme", "b")
    assert kept is not None and kept.status == "queued"
    assert "digest" not in kept.as_dict() and "owner" not in kept.as_dict()
