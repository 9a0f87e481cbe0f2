"""The JSON Schema of each internal topic's messages (``schemas/topics/<topic>/v<N>.json``)."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from events.resources import schemas_root


@cache
def topic_schema(topic: str, version: int = 1) -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads(
        (schemas_root() / "topics" / topic / f"v{version}.json").read_bytes()
    )
    return schema
