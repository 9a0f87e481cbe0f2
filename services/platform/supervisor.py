"""Keeping ``touchline up``'s children alive: restart what exits, give up loudly on a crash loop.

A worker or projector that died used to leave ingest answering 202 while
nothing was processed. The supervisor notices an exit within half a second,
logs how the child ended and the end of its log, says so on the heartbeats
topic (so ``/healthz`` reports the stage down at once), and starts it again
after a growing pause. A child that keeps dying within seconds of starting is
broken, not unlucky: after a few such exits in a row the supervisor stops
everything and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("touchline.up")
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
FAST_FAILURE_S = 20.0  # dying sooner than this after starting counts as a failed start
GIVE_UP_AFTER = 5  # failed starts in a row
LOG_TAIL_LINES = 12


class GaveUp(RuntimeError):
    """A child kept failing right after it started; the message says which and where its log is."""


@dataclass
class Child:
    """One supervised process: how to start it, and what happened to it so far."""

    name: str
    argv: Sequence[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failed_starts: int = 0
    restarts: int = 0
    restart_at: float | None = None  # when a dead child is due to start again
    history: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


def describe_exit(returncode: int) -> str:
    """``exited with status 1`` or ``was killed by SIGKILL``: how a process ended, as said."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join("    " + line[:300] for line in text) or "(the log is empty)"


class Supervisor:
    """Starts the children, restarts them when they exit, stops them on request.

    ``exited`` is told (name, pid, how it ended) each time a child dies, before
    it is restarted: ``up`` publishes it as the instance's last heartbeat.
    """

    def __init__(
        self,
        children: Sequence[Child],
        exited: Callable[[Child, int, str], Awaitable[None]] | None = None,
    ) -> None:
        self.children = list(children)
        self.exited = exited
        self._stopping = False

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)

    async def watch(self) -> None:
        """Run until ``stop_all``; raises ``GaveUp`` when a child is in a crash loop."""
        while not self._stopping:
            for child in self.children:
                await self._check(child)
            await asyncio.sleep(0.5)

    def stop_all(self, timeout_s: float = 60.0) -> None:
        """SIGTERM every child, wait for each, SIGKILL what is still running after ``timeout_s``."""
        self._stopping = True
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            log.info("stopping the %s", child.name)
            assert child.process is not None
            child.process.terminate()
        deadline = time.monotonic() + timeout_s
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("the %s did not stop in %.0f s; killing it", child.name, timeout_s)
                child.process.kill()
                child.process.wait()

    def _start(self, child: Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        with child.log_path.open("ab") as out:
            child.process = subprocess.Popen(
                list(child.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child.started_at, child.restart_at = time.monotonic(), None
        log.info("%s started (pid %d), log at %s", child.name, child.process.pid, child.log_path)

    async def _check(self, child: Child) -> None:
        if child.process is None:
            if child.restart_at is not None and time.monotonic() >= child.restart_at:
                child.restarts += 1
                self._start(child)
            return
        returncode = child.process.poll()
        if returncode is None or self._stopping:
            return
        pid, lived = child.process.pid, time.monotonic() - child.started_at
        child.process = None
        how = describe_exit(returncode)
        child.history.append(how)
        child.failed_starts = child.failed_starts + 1 if lived < FAST_FAILURE_S else 0
        if self.exited is not None:
            with contextlib.suppress(Exception):  # the broker may be the reason it died
                await asyncio.wait_for(self.exited(child, pid, how), 5.0)
        if child.failed_starts >= GIVE_UP_AFTER:
            raise GaveUp(
                f"the {child.name} failed {child.failed_starts} times in a row within "
                f"{FAST_FAILURE_S:.0f} s of starting (last: {how}); giving up. "
                f"Its log: {child.log_path}"
            )
        pause = BACKOFF_S[min(child.failed_starts, len(BACKOFF_S) - 1)]
        child.restart_at = time.monotonic() + pause
        log.warning(
            "the %s (pid %d) %s after %.0f s; restarting it in %.0f s. "
            "The end of its log (%s):\n%s",
            child.name,
            pid,
            how,
            lived,
            pause,
            child.log_path,
            log_tail(child.log_path),
        )


def touchline_child(name: str, data_dir: Path, *args: str) -> Child:
    """A ``touchline <name>`` child of this interpreter, logging to ``<data dir>/<name>.log``."""
    argv = [sys.executable, "-m", "services.entrypoints.cli", name, *args]
    return Child(name, argv, data_dir / f"{name}.log")
