"""Operator routes of the projection service: replay a projection while it keeps serving.

In the embedded default only this process can open the chDB directory, so a
replay that must not interrupt reads runs here, in a thread, beside the live
projector and the agents' reads; ``touchline replay`` asks for it when the
directory is taken. Only platform operator keys (role ``operator``, no tenant) may
call these routes: a projection is one table for every tenant, so a tenant's key
cannot be let near it (docs/decisions/0028-platform-operators.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from projections.opening import Opener
from projections.replay import REPLAYABLE, checksum, replay
from projections.store import ProjectionStore
from services.auth.keys import KeyStore


@dataclass
class ReplayJob:
    projection: str
    state: str = "running"  # running, done, failed
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)

    def report(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class Replays:
    def __init__(
        self,
        store: ProjectionStore,
        bootstrap: str,
        live_writes: threading.Lock,
        swapped: Callable[[], None] | None = None,
        opener: Opener | None = None,
        precedence: Sequence[str] = (),
    ) -> None:
        """``swapped`` is called once a replay's table has replaced the live one; ``opener``
        reads the log's sealed values (as the live projector does)."""
        self.opener, self.precedence = opener, precedence
        self.store = store
        self.bootstrap = bootstrap
        self.live_writes = live_writes
        self.swapped = swapped
        self.jobs: dict[str, ReplayJob] = {}
        self._lock = threading.Lock()

    def start(self, projection: str) -> ReplayJob | None:
        """The new job, or None when one for that projection is running."""
        with self._lock:
            current = self.jobs.get(projection)
            if current is not None and current.state == "running":
                return None
            job = self.jobs[projection] = ReplayJob(projection)
        threading.Thread(
            target=self._run, args=(job,), daemon=True, name=f"replay-{projection}"
        ).start()
        return job

    def _run(self, job: ReplayJob) -> None:
        try:
            result = replay(self.store, self.bootstrap, job.projection, job.report,
                            self.live_writes, self.opener, self.precedence)  # fmt: skip
            if self.swapped is not None:
                self.swapped()
            job.result = {"rows": result.rows, "checksum": f"{result.digest:016x}"}
            job.state = "done"
        except Exception as exc:  # reported to the operator who asked, with the reason
            job.error, job.state = f"{type(exc).__name__}: {exc}", "failed"


def admin_router(keys: KeyStore, replays: Replays) -> APIRouter:
    router = APIRouter(prefix="/v1/admin")

    def operator(request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        key = (
            keys.lookup(header.removeprefix("Bearer ").strip())
            if header.startswith("Bearer ")
            else None
        )
        if key is None:
            return _error(401, "unauthenticated", "send 'Authorization: Bearer <operator key>'")
        if not key.platform_operator:
            return _error(
                403,
                "forbidden",
                f"a {key.role} key of tenant {key.tenant!r} cannot replay projections: they hold "
                "every tenant (a platform operator key: touchline keys create --role operator)",
            )
        return None

    def known(projection: str) -> JSONResponse | None:
        if projection not in REPLAYABLE:
            return _error(
                404,
                "unknown_projection",
                f"no replayable projection {projection!r} (one of {', '.join(REPLAYABLE)})",
            )
        return None

    @router.post("/replay/{projection}", status_code=202)
    async def start(request: Request, projection: str) -> JSONResponse:
        refused = operator(request) or known(projection)
        if refused is not None:
            return refused
        job = replays.start(projection)
        if job is None:
            return _error(409, "replay_running", f"a replay of {projection} is already running")
        return JSONResponse(_job(job), status_code=202)

    @router.get("/replay/{projection}")
    async def status(request: Request, projection: str) -> JSONResponse:
        refused = operator(request) or known(projection)
        if refused is not None:
            return refused
        job = replays.jobs.get(projection)
        return JSONResponse(_job(job) if job else {"projection": projection, "state": "idle"})

    @router.get("/checksum/{projection}")
    async def sum_of(request: Request, projection: str) -> JSONResponse:
        refused = operator(request) or known(projection)
        if refused is not None:
            return refused
        found = await asyncio.to_thread(checksum, replays.store, projection)
        return JSONResponse(
            {"projection": projection, "rows": found.rows, "checksum": f"{found.digest:016x}"}
        )

    return router


def _job(job: ReplayJob) -> dict[str, Any]:
    return {
        "projection": job.projection,
        "state": job.state,
        "done": job.done,
        "total": job.total,
        "result": job.result,
        "error": job.error,
    }


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
