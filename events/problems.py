"""What was wrong with an event, said so a publisher can fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an event was refused.

    ``pointer`` is an RFC 6901 JSON pointer into the event (``""`` for the
    event as a whole), so a publisher can find the field without guessing.
    """

    pointer: str
    message: str

    def as_dict(self, index: int | None = None) -> dict[str, object]:
        body: dict[str, object] = {"pointer": self.pointer, "message": self.message}
        return body if index is None else {"index": index, **body}


def pointer(*parts: object) -> str:
    """Join path parts into a JSON pointer, escaping ``~`` and ``/`` as RFC 6901 says."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class EventRejected(ValueError):
    """Raised where a single event is refused (the publisher library)."""

    def __init__(self, problems: list[Problem], index: int | None = None) -> None:
        self.problems = problems
        self.index = index
        where = "" if index is None else f"event {index}: "
        super().__init__(where + "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems))
