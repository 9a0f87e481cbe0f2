"""A heartbeat: a running stage says it is alive, how far behind it is, and what went wrong last.

Stages publish one every few seconds to the heartbeats topic; ``/healthz`` and
``touchline status`` read them, so whichever process asks learns about every
stage and instance, on any host, without knowing their ports. A supervisor
writes a last one for a child it saw exit, so the stage is reported down at
once rather than when its beats go stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import orjson

STATES = ("starting", "running", "stopping", "stopped", "exited")


@dataclass(frozen=True)
class Heartbeat:
    """One beat of one instance of a stage (``instance`` is ``host:pid``)."""

    VERSION: ClassVar[int] = 1

    stage: str
    instance: str
    state: str
    at_ms: int
    started_at_ms: int
    interval_s: float
    processed: int = 0
    rate_1m: float = 0.0
    lag: Mapping[str, int] = field(default_factory=dict)  # records behind, per input topic
    dead_letters: int = 0
    last_error: str | None = None
    last_error_at_ms: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> bytes:
        return f"{self.stage}|{self.instance}".encode()

    def stale(self, now_ms: int) -> bool:
        """No beat for three intervals: the instance is gone, whatever it last said."""
        return now_ms - self.at_ms > 3_000 * self.interval_s

    def alive(self, now_ms: int) -> bool:
        return self.state in ("starting", "running") and not self.stale(now_ms)

    def encode(self) -> bytes:
        body = {"version": self.VERSION, **{k: getattr(self, k) for k in _FIELDS}}
        return orjson.dumps(body)

    @classmethod
    def decode(cls, data: bytes) -> Heartbeat:
        body = orjson.loads(data)
        if body.get("version") != cls.VERSION:
            raise ValueError(f"heartbeat version {body.get('version')!r} is not {cls.VERSION}")
        return cls(**{k: body[k] for k in _FIELDS if k in body})


_FIELDS = tuple(item.name for item in fields(Heartbeat))
