"""Keeps a file's pages in memory, for reads that must never wait for the disk.

Why: the agent API reads the serving index on its event loop, so a read that
waits for the disk makes every agent wait. On this project's machines a
kernel daemon (DAMON, scheme ``pageout``) drops file pages that nobody touched
for about a minute, however much memory is free: a serving index read a
minute after it was written took up to 850 ms (p99 200-430 ms over 200 reads
of customers not read since, against 0.3 ms with the file in memory;
measured), and the 50-agent benchmark's tail was those reads. Pages that a
process has locked are not reclaimed, so the file is mapped read-only with
``MAP_LOCKED`` and each growth is mapped the same way.

The cost is memory: the whole file stays resident (``TOUCHLINE_SERVING_INDEX_RESIDENT=off``
turns it off). The mapping is never read: SQLite reads the file as before,
and finds its pages in memory.
"""

from __future__ import annotations

import logging
import mmap
import os
from pathlib import Path

log = logging.getLogger(__name__)
MAP_LOCKED = getattr(mmap, "MAP_LOCKED", 0x2000)  # Linux; Python's mmap module does not name it


class ResidentFile:
    """The pages of ``path`` locked in memory, as far as ``refresh`` last found the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.locked = 0  # bytes of the file mapped locked
        self.error: str | None = None
        self._maps: list[mmap.mmap] = []
        self._inode: int | None = None

    def refresh(self) -> int:
        """Lock what the file has grown by since the last call (all of a file that
        replaced it); the bytes now locked. A failure is kept in ``error`` and logged
        once: reads still work, only from the disk again."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return self.locked
        if found.st_ino != self._inode:
            self.close()
            self._inode = found.st_ino
        if found.st_size <= self.locked:
            return self.locked
        start = self.locked - self.locked % mmap.ALLOCATIONGRANULARITY
        try:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                _read_through(fd, start, found.st_size)
                self._maps.append(
                    mmap.mmap(
                        fd,
                        found.st_size - start,
                        offset=start,
                        flags=mmap.MAP_SHARED | MAP_LOCKED,
                        prot=mmap.PROT_READ,
                    )
                )
            finally:
                os.close(fd)
        except OSError as exc:
            if self.error is None:
                log.warning(
                    "could not keep %s in memory (%s): its reads may wait for the disk",
                    self.path,
                    exc,
                )
            self.error = f"{type(exc).__name__}: {exc}"
            return self.locked
        self.locked, self.error = found.st_size, None
        return self.locked

    def close(self) -> None:
        for mapped in self._maps:
            mapped.close()
        self._maps, self.locked = [], 0


def _read_through(fd: int, start: int, end: int, chunk: int = 1 << 20) -> None:
    """Bring ``start:end`` into memory with plain reads before it is mapped locked.

    Locking pages that are on the disk reads them while the process's memory
    map is held, and the event loop's own allocations waited behind it (7 s at
    the start of a service on a 283 MB index, measured); reads hold nothing.
    """
    while start < end:
        read = len(os.pread(fd, min(chunk, end - start), start))
        if not read:
            return
        start += read
