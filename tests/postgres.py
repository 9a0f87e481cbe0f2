"""A private PostgreSQL cluster for tests, from Debian's packages (no server is assumed running)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import free_port, wait_until


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed (make setup installs Debian's postgresql)"
        )
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    # runuser lives in /usr/sbin, which a minimal PATH (a CI runner's) may leave out
    runuser = (
        shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"
    )
    return [runuser, "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def private_postgres() -> Iterator[str]:
    """Yield a ``postgresql://`` URL of a fresh cluster; stop and remove it afterwards.

    The cluster lives in its own temporary folder (pytest's are private to
    root, and the server must run as the ``postgres`` user).
    """
    base = Path(tempfile.mkdtemp(prefix="touchline-pg-"))
    base.chmod(0o755)
    data = base / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    try:
        yield from _run_cluster(data)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_cluster(data: Path) -> Iterator[str]:
    subprocess.run(_as_postgres([_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)  # fmt: skip
    port = free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres([_bin("pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(data / "log"), "start"]),
                   check=True, capture_output=True)  # fmt: skip
    try:
        wait_until(lambda: _createdb(port), 30, "PostgreSQL to accept connections", 0.3)
        yield f"postgresql://postgres@127.0.0.1:{port}/touchline"
    finally:
        subprocess.run(
            _as_postgres([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )


def _createdb(port: int) -> bool:
    done = subprocess.run([_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "touchline"],
                          capture_output=True, text=True)  # fmt: skip
    return done.returncode == 0 or "already exists" in done.stderr
