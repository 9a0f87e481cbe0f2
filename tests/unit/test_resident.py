"""The serving index's file stays locked in memory as it grows, and anew when it is replaced."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from projections.resident import ResidentFile

MiB = 1 << 20


def locked_bytes() -> int:
    """This process's locked memory, as the kernel counts it (``VmLck``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmLck in /proc/self/status")


def grow(path: Path, mib: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS blobs (b BLOB)")
        db.executemany("INSERT INTO blobs VALUES (?)", [(os.urandom(4096),)] * (mib * 256))


def test_the_file_is_locked_as_it_grows_and_when_it_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    resident = ResidentFile(path)
    assert resident.refresh() == 0  # no file yet: nothing to lock
    before = locked_bytes()
    grow(path, 8)
    assert resident.refresh() == path.stat().st_size and resident.error is None
    assert locked_bytes() - before >= 8 * MiB
    grow(path, 8)
    size = path.stat().st_size
    assert resident.refresh() == size
    assert locked_bytes() - before >= 16 * MiB
    path.unlink()  # replaced: the old file's pages are let go, the new one's locked
    grow(path, 4)
    assert resident.refresh() == path.stat().st_size < size
    assert 4 * MiB <= locked_bytes() - before < 16 * MiB
    resident.close()
    assert locked_bytes() == before
