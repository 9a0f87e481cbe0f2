"""Workers opening a new SQLite identity store at the same moment all get it open.

Before the fix, half of four processes released together failed with eventsourcing's
``IntegrityError: Failed to record tracking for __migration__ 1`` (their table creation
raced), which crashed a second worker started beside the first. Still open: one in
about ten such races ends in SQLite's "database is locked" while the file turns to WAL.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _open(url: str, barrier: Any) -> str:
    from services.identity.resolver import IdentityResolver
    from services.identity.store import eventsourcing_env

    barrier.wait()
    try:
        IdentityResolver(eventsourcing_env(url))
    except Exception as exc:  # reported to the test, which names it
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_four_processes_open_one_new_store_at_once(tmp_path: Path) -> None:
    context = mp.get_context("spawn")
    with context.Manager() as manager:
        for trial in range(5):
            url = f"sqlite://{tmp_path / f'identity-{trial}.sqlite3'}"
            barrier = manager.Barrier(4)
            with context.Pool(4) as pool:
                results = pool.starmap(_open, [(url, barrier)] * 4)
            # what failed before: the tracking row of the tables' creation colliding
            assert not [r for r in results if "__migration__" in r], results
