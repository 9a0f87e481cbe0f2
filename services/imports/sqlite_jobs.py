"""Upload jobs in a SQLite file under the data directory (every ingest process opens the same)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast

import orjson

from events.timestamps import format_instant, now_utc
from services.imports.jobs import Job, JobStore, Progress, Status
from services.platform.sqlite_files import open_store_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS import_jobs (
    job_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    digest TEXT NOT NULL,
    as_of TEXT NOT NULL,
    status TEXT NOT NULL,
    progress TEXT NOT NULL,
    notes TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    owner TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS import_jobs_by_digest ON import_jobs (tenant, digest, created_at);
"""
_COLUMNS = ("job_id, tenant, kind, file_name, digest, as_of, status, progress, notes, error,"
            " created_at, finished_at, owner")  # fmt: skip


class SqliteJobStore(JobStore):
    def __init__(self, path: Path) -> None:
        # several ingest processes write it
        self._db = open_store_file(path, _SCHEMA, busy_timeout_ms=5000)
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        job.created_at = job.created_at or format_instant(now_utc())
        with self._lock:
            self._db.execute(
                f"INSERT INTO import_jobs ({_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                _row(job),
            )

    def get(self, tenant: str, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM import_jobs WHERE job_id = ? AND tenant = ?",
                (job_id, tenant),
            ).fetchone()
        return None if row is None else _job(row)

    def update(self, job: Job) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE import_jobs SET status = ?, progress = ?, notes = ?, error = ?,"
                " finished_at = ? WHERE job_id = ?",
                (job.status, _json(job.progress), _json(job.notes), job.error, job.finished_at,
                 job.job_id),
            )  # fmt: skip

    def first_as_of(self, tenant: str, digest: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT as_of FROM import_jobs WHERE tenant = ? AND digest = ?"
                " ORDER BY created_at LIMIT 1",
                (tenant, digest),
            ).fetchone()
        return None if row is None else str(row[0])

    def abandon(self, stopped: Callable[[str], bool], why: str) -> int:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM import_jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
        dead = [job for job in map(_job, rows) if stopped(job.owner)]
        for job in dead:
            job.status, job.error, job.finished_at = "failed", why, format_instant(now_utc())
            self.update(job)
        return len(dead)

    def close(self) -> None:
        self._db.close()


def _json(value: object) -> str:
    return orjson.dumps(value, default=vars).decode()


def _row(job: Job) -> tuple[object, ...]:
    return (job.job_id, job.tenant, job.kind, job.file_name, job.digest, job.as_of, job.status,
            _json(job.progress), _json(job.notes), job.error, job.created_at, job.finished_at,
            job.owner)  # fmt: skip


def _job(row: tuple[object, ...]) -> Job:
    (job_id, tenant, kind, file_name, digest, as_of, status, progress, notes, error, created,
     finished, owner) = row  # fmt: skip
    return Job(
        str(job_id), str(tenant), str(kind), str(file_name), str(digest), str(as_of),
        cast(Status, status), Progress(**orjson.loads(str(progress))),
        list(orjson.loads(str(notes))), None if error is None else str(error), str(created),
        None if finished is None else str(finished), str(owner),
    )  # fmt: skip
