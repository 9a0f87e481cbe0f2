"""The supervisor restarts a child that exits, says how it ended, and gives up on a crash loop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from services.platform import supervisor as sup
from services.platform.supervisor import Child, GaveUp, Supervisor, describe_exit


def _child(tmp_path: Path, code: str) -> Child:
    return Child("worker", [sys.executable, "-c", code], tmp_path / "worker.log")


def test_exits_are_said_as_a_person_would() -> None:
    assert describe_exit(1) == "exited with status 1"
    assert describe_exit(-9) == "was killed by SIGKILL"


async def test_a_child_that_keeps_failing_at_start_makes_it_give_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sup, "BACKOFF_S", (0.0,))
    exits: list[tuple[int, str]] = []

    async def exited(child: Child, pid: int, how: str) -> None:
        exits.append((pid, how))

    child = _child(tmp_path, "import sys; print('cannot start: no config'); sys.exit(3)")
    supervisor = Supervisor([child], exited)
    supervisor.start_all()
    with pytest.raises(GaveUp, match=r"the worker failed 5 times .* exited with status 3"):
        await asyncio.wait_for(supervisor.watch(), 30)
    assert len(exits) == 5 and all(how == "exited with status 3" for _, how in exits)
    assert len({pid for pid, _ in exits}) == 5, "each restart is a new process"
    assert child.restarts == 4
    assert "cannot start: no config" in child.log_path.read_text()


async def test_a_child_that_ran_a_while_is_restarted_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sup, "BACKOFF_S", (0.0,))
    monkeypatch.setattr(sup, "FAST_FAILURE_S", 0.2)  # it lives longer than a failed start
    child = _child(tmp_path, "import time; time.sleep(0.5)")
    supervisor = Supervisor([child])
    supervisor.start_all()
    watching = asyncio.create_task(supervisor.watch())
    for _ in range(100):  # polls the way the supervisor does: children are processes
        if child.restarts >= 2:
            break
        await asyncio.sleep(0.1)
    assert child.failed_starts == 0 and not watching.done()
    supervisor.stop_all(5)
    await asyncio.wait_for(watching, 5)
    assert child.process is None or child.process.poll() is not None
