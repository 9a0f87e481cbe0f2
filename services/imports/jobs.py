"""Upload jobs: what each one is, how far it got, and the port that keeps them.

An upload (``POST /v1/imports``) is answered at once with a job; the job runs in the ingest
process that took it, and its state is kept where every ingest process of the deployment
reads it (``GET /v1/imports/{id}`` may reach another one).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["queued", "running", "done", "failed"]


@dataclass
class Progress:
    """Rows as the import counts them: read, imported (their events are in the log), failed."""

    rows_read: int = 0
    rows_imported: int = 0
    rows_failed: int = 0
    duplicate_rows: int = 0  # repeated earlier in the file: imported once
    events_sent: int = 0


@dataclass
class Job:
    job_id: str
    tenant: str
    kind: str
    file_name: str
    digest: str  # SHA-256 of the uploaded bytes
    as_of: str  # occurred_at for rows without a time column
    status: Status = "queued"
    progress: Progress = field(default_factory=Progress)
    notes: list[str] = field(default_factory=list)  # how the file was read (encoding, preset)
    error: str | None = None
    created_at: str = ""
    finished_at: str | None = None
    owner: str = ""  # the process running it (host:pid)

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for private in ("digest", "owner"):
            body.pop(private)
        body["report"] = f"/v1/imports/{self.job_id}/report"
        return body


class JobStore(abc.ABC):
    """Persistent upload jobs, each visible to its tenant only."""

    @abc.abstractmethod
    def add(self, job: Job) -> None:
        """Record a new, queued job."""

    @abc.abstractmethod
    def get(self, tenant: str, job_id: str) -> Job | None:
        """The tenant's job; None for an unknown id or another tenant's job."""

    @abc.abstractmethod
    def update(self, job: Job) -> None:
        """Write the job's status, progress, notes and error as they are now."""

    @abc.abstractmethod
    def first_as_of(self, tenant: str, digest: str) -> str | None:
        """The ``as_of`` of the tenant's earliest job of the same bytes (so a re-upload of
        a file without a time column gives the same events)."""

    @abc.abstractmethod
    def abandon(self, stopped: Callable[[str], bool], why: str) -> int:
        """Fail the queued and running jobs whose owner has ``stopped``; how many there were."""
