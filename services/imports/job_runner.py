"""Running upload jobs in the ingest process: a few threads, and appends on the app's own log.

Conversion is CPU work (thousands of rows a second), so it runs in worker threads, never on
the event loop that answers ingest's requests. The events go to the log the ingest API
appends to (``IngestService.append_prepared``: one Kafka transaction per batch of whole rows),
on the app's loop: a row is in the log with all its events or not at all, and a job that stops (Kafka gone
longer than the retries, the process stopping) has imported exactly the rows it counts as
imported. Uploading the file again imports the rest, and the rest only changes anything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from events.intake import PreparedEvent
from events.timestamps import format_instant, now_utc
from services.imports.dates import DateProblem
from services.imports.errors import ImportFileError, MappingError
from services.imports.jobs import Job, JobStore
from services.imports.planning import Doors, ImportRequest, plan_import
from services.imports.report import ImportSummary, ProblemReport
from services.imports.rows import Converted
from services.imports.sending import send_rows
from services.kafka.event_log import LogUnavailable

log = logging.getLogger(__name__)
Append = Callable[[list[PreparedEvent]], Coroutine[Any, Any, None]]
BATCH_EVENTS = 5000  # per transaction: 1,000 halved the upload rate (bench/uploads.py)
RETRIES_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # then the job fails: Kafka has been gone for 15 s
PROGRESS_EVERY_S = 0.5
OWNER = f"{socket.gethostname()}:{os.getpid()}"


class Busy(Exception):
    """This process already has as many jobs as it takes; the client should retry later."""


class Stopping(Exception):
    """The ingest process is stopping: the job ends after its last whole batch."""


class ImportJobs:
    """At most ``max_pending`` jobs per process (queued or running), ``workers`` at a time."""

    def __init__(
        self,
        store: JobStore,
        directory: Path,
        doors: Doors,
        append: Append,
        workers: int = 1,
        max_pending: int = 4,
        batch_events: int = BATCH_EVENTS,
        retries_s: tuple[float, ...] = RETRIES_S,
    ) -> None:
        self.store = store
        self.directory = directory
        self.doors = doors
        self.append = append
        self.max_pending = max_pending
        self.batch_events = batch_events
        self.retries_s = retries_s
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "import-job")
        self._pending = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._uploads: dict[concurrent.futures.Future[None], Path] = {}

    def job_dir(self, job_id: str) -> Path:
        return self.directory / job_id

    def report_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "report.csv"

    def reserve(self) -> None:
        """Take a place for one more job, or raise ``Busy``; ``submit`` or ``release`` it."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise Busy(f"this ingest process is running {self._pending} imports")
            self._pending += 1

    def release(self) -> None:
        with self._lock:
            self._pending -= 1

    def submit(self, job: Job, request: ImportRequest) -> None:
        """Record ``job`` and run it (after ``reserve``); the upload in ``request.path`` is
        deleted when the job ends."""
        job.owner = OWNER
        self.store.add(job)
        loop = asyncio.get_running_loop()
        future = self._pool.submit(self._run, job, request, loop)
        self._uploads[future] = request.path
        future.add_done_callback(lambda done: self._uploads.pop(done, None))

    def stop(self) -> None:
        """Running jobs end after their current batch; queued ones are failed (not started)."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for path in list(self._uploads.values()):  # a cancelled job never reached its finally
            path.unlink(missing_ok=True)
        self.store.abandon(lambda owner: owner == OWNER, "the ingest process stopped; upload the "
                           "file again (it imports idempotently)")  # fmt: skip

    def _run(self, job: Job, request: ImportRequest, loop: asyncio.AbstractEventLoop) -> None:
        try:
            job.status = "running"
            self.store.update(job)
            self._import(job, request, loop)
            job.status = "done"
        except (ImportFileError, MappingError, DateProblem) as exc:
            job.status, job.error = "failed", str(exc)
        except (LogUnavailable, Stopping) as exc:
            job.status = "failed"
            job.error = (f"{exc}; the first {job.progress.rows_imported} rows counted as imported "
                         "are in, upload the file again for the rest (it imports idempotently)")  # fmt: skip
        except Exception as exc:  # the job's state must say it ended; the traceback is logged
            log.exception("import job %s failed", job.job_id)
            job.status, job.error = "failed", f"internal error: {type(exc).__name__}"
        finally:
            job.finished_at = format_instant(now_utc())
            self.store.update(job)
            request.path.unlink(missing_ok=True)  # the upload holds personal data in clear
            self.release()

    def _import(self, job: Job, request: ImportRequest, loop: asyncio.AbstractEventLoop) -> None:
        plan = plan_import(request, self.doors, job.notes.append)
        self.store.update(job)
        summary = ImportSummary()
        ticker = _Ticker(job, summary, self.store)
        with ProblemReport(self.report_path(job.job_id)) as report:
            asyncio.run(self._convert_and_send(plan.rows, summary, report, ticker, loop))
        ticker.sent(job.progress.rows_imported, 0)

    async def _convert_and_send(
        self,
        rows: Iterator[Converted],
        summary: ImportSummary,
        report: ProblemReport,
        ticker: _Ticker,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """One batch in flight while the next rows are converted: Kafka's commit round trip
        overlaps the CPU work. A batch counts as imported once its transaction committed."""
        inflight: asyncio.Task[None] | None = None

        async def sent(events: list[PreparedEvent], rows_taken: int) -> None:
            await self._send(events, loop)
            ticker.sent(rows_taken, len(events))

        async def send(events: list[PreparedEvent]) -> None:
            nonlocal inflight
            if inflight is not None:
                await inflight  # raises what stopped the previous batch
            taken = summary.rows_read - summary.rows_refused  # this batch's rows included
            inflight = asyncio.create_task(sent(events, taken))

        await send_rows(rows, send, summary, report, self.batch_events, ticker)
        if inflight is not None:
            await inflight

    async def _send(self, events: list[PreparedEvent], loop: asyncio.AbstractEventLoop) -> None:
        for wait_s in (*self.retries_s, None):
            if self._stopping.is_set():
                raise Stopping("the ingest process is stopping")
            try:
                future = asyncio.run_coroutine_threadsafe(self.append(events), loop)
                await asyncio.wrap_future(future)
                return
            except LogUnavailable:
                if wait_s is None:
                    raise
                await asyncio.sleep(wait_s)


class _Ticker:
    """``send_rows``'s progress callback: the job's counts written at most twice a second."""

    def __init__(self, job: Job, summary: ImportSummary, store: JobStore) -> None:
        self.job, self.summary, self.store = job, summary, store
        self._last = 0.0

    def update(self, _rows: int) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            self._count()
            self.store.update(self.job)

    def sent(self, rows_imported: int, events: int) -> None:
        """A batch is in the log, and with it every row taken before it was sent."""
        self._count()
        self.job.progress.rows_imported = rows_imported
        self.job.progress.events_sent += events
        self.store.update(self.job)

    def _count(self) -> None:
        s, progress = self.summary, self.job.progress
        progress.rows_read, progress.rows_failed = s.rows_read, s.rows_refused
        progress.duplicate_rows = s.duplicate_rows


def sweep(directory: Path, older_than_s: float) -> int:
    """Delete the reports (and any upload left by a crash) of jobs older than ``older_than_s``."""
    if not directory.is_dir():
        return 0
    cutoff, removed = time.time() - older_than_s, 0
    for job_dir in directory.iterdir():
        if job_dir.is_dir() and job_dir.stat().st_mtime < cutoff:
            shutil.rmtree(job_dir, ignore_errors=True)
            removed += 1
    return removed


def stopped_here(owner: str) -> bool:
    """Whether ``owner`` was a process on this host that is gone (others' are left alone)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False
