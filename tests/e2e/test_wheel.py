"""A wheel built from the repository works outside the checkout: its data files are package resources.

The wheel goes into a fresh virtual environment of its own (its dependencies
are borrowed from the development environment's site-packages as a plain
path, so the checkout's editable install is not seen); ``touchline simulate``
and ``touchline migrate`` then run from an empty folder elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                    str(tmp / "dist"), str(REPO)], check=True, capture_output=True,
                   env=_clean_env())  # fmt: skip
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((tmp / "dist").glob("touchline-*.whl"))
    # --ignore-installed: the borrowed path holds the checkout's editable install of touchline
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-deps", "--ignore-installed",
                    str(wheel)], check=True, capture_output=True, env=_clean_env())  # fmt: skip
    return venv


def _clean_env() -> dict[str, str]:
    """No Touchline settings and no PYTHONPATH: nothing may point back at the checkout."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TOUCHLINE_", "PYTHON"))}


def _run(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _clean_env()
    return subprocess.run([str(venv / "bin" / "touchline"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_the_installed_code_is_the_wheels_not_the_checkouts(
    installed: Path, tmp_path: Path
) -> None:
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import events, projections, services; print(events.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True,
                           env=_clean_env()).stdout  # fmt: skip
    assert where.startswith(str(installed)), where


def test_simulate_and_migrate_run_from_another_folder(installed: Path, tmp_path: Path) -> None:
    simulated = _run(installed, tmp_path, "simulate", "--customers", "3", "--seed", "4")
    assert simulated.returncode == 0, simulated.stderr
    assert (
        simulated.stdout.count('"event_id"') > 3
    )  # one envelope per line, valid against the schemas
    migrated = _run(installed, tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0001 touchpoints" in migrated.stdout
    assert (tmp_path / ".touchline" / "clickhouse").is_dir()
