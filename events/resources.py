"""Where the data files the code reads at run time are: package resources, found the same way
in a checkout (``events/schemas`` links to the top-level ``schemas/``) and in an installed wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def schemas_root() -> Path:
    """``schemas/``: event and topic JSON Schemas, ClickHouse migrations."""
    return Path(str(files("events") / "schemas"))
