"""A dead letter: a record a stage gave up on, with why, and enough to find and replay it.

Every stage builds them here, so the dead-letter topic has one shape: ``code``
is a short, stable reason (a metric label, something to filter on), ``reason``
says in words what went wrong, and the failed record travels as its position
and its text (``value``) or, once decoded, as the ``event`` or ``command``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

#: the reason codes stages use (the metric label's values)
CODES = frozenset(
    {
        "undecodable_touchpoint",
        "no_usable_identifier",
        "unreadable_command",
        "command_not_applied",
        "unreadable_resolved",
        "customer_erased",
        "unprojectable_record",
    }
)


@dataclass(frozen=True)
class DeadLetter:
    VERSION: ClassVar[int] = 1

    stage: str
    code: str
    reason: str
    key: bytes = b""  # the dead-letter record's key: the source record's, or tenant-scoped
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    value: str | None = None
    event: Mapping[str, Any] | None = None
    command: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown dead-letter code {self.code!r}")

    def encode(self) -> bytes:
        body: dict[str, Any] = {
            "version": self.VERSION,
            "stage": self.stage,
            "code": self.code,
            "reason": self.reason,
        }
        for name in ("topic", "partition", "offset", "value", "event", "command"):
            found = getattr(self, name)
            if found is not None:
                body[name] = found
        return orjson.dumps(body)

    @classmethod
    def decode(cls, data: bytes, key: bytes = b"") -> DeadLetter:
        body = orjson.loads(data)
        fields = {
            k: body[k]
            for k in ("topic", "partition", "offset", "value", "event", "command")
            if k in body
        }
        return cls(body["stage"], body["code"], body["reason"], key, **fields)


def dead_letter(
    stage: str,
    code: str,
    reason: str,
    source: Any = None,
    *,
    topic: str | None = None,
    key: bytes | None = None,
    value: bytes | None = None,
    event: Mapping[str, Any] | None = None,
    command: Mapping[str, Any] | None = None,
) -> DeadLetter:
    """The one way to build a dead letter.

    ``source`` is the record that failed (anything with ``partition``,
    ``offset``, ``key`` and ``value``: a faust event's message, an aiokafka
    record, a projector record), or None when only the decoded ``event`` or
    ``command`` is at hand (or only its ``value``, where the position is not
    known). Its text is kept unless the decoded form is given.
    """
    position: dict[str, Any] = {}
    if value is not None:
        position["value"] = bytes(value).decode("utf-8", "replace")
    if source is not None:
        position = {
            "partition": source.partition,
            "offset": source.offset,
            "topic": topic or getattr(source, "topic", None),
        }
        if event is None and command is None:
            position["value"] = bytes(source.value).decode("utf-8", "replace")
        if key is None:
            key = bytes(source.key or b"")
    elif topic is not None:
        position["topic"] = topic
    return DeadLetter(stage, code, reason, key or b"", event=event, command=command, **position)
