"""A stable number for each worker process of one kind on this host (ingest, stream workers).

Each worker's Kafka transactional id must be unique (two producers with one id
fence each other) and should be stable across restarts (a restarted producer
with the same id aborts what its predecessor left open at once; with a new id
that transaction would hold back read_committed consumers until it times
out). Workers therefore claim the lowest free slot number with an exclusive
lock on a file, held for the life of the process and released by the OS when
it dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

_held: list[IO[bytes]] = []


def claim_worker_slot(data_dir: Path, name: str, limit: int = 256) -> int:
    folder = data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(limit):
        handle = (folder / f"{name}-{slot}.lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.write(f"{os.getpid()}\n".encode())
        _held.append(handle)
        return slot
    raise RuntimeError(f"more than {limit} workers named {name!r} on this host")
