"""The JSON Schema of each internal topic's messages (``schemas/topics/<topic>/v<N>.json``)."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from events.resources import schemas_root


@cache
def topic_schema(topic: str, version: int | None = None) -> dict[str, Any]:
    """``version`` None: the topic's newest schema (what producers write now)."""
    folder = schemas_root() / "topics" / topic
    if version is None:
        version = max(int(p.stem[1:]) for p in folder.glob("v*.json"))
    schema: dict[str, Any] = orjson.loads((folder / f"v{version}.json").read_bytes())
    return schema
