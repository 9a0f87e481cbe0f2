"""A Kafka record as Touchline writes it: the value every producer hands to a writer."""

from __future__ import annotations

from typing import NamedTuple

from events.intake import PreparedEvent


class Record(NamedTuple):
    """Key, value and headers; the topic and partition are the writer's business.

    ``topic`` names another topic than the writer's own, for a record that must commit in the
    same transaction (a webhook's raw delivery beside its touchpoints). A NamedTuple, not a
    frozen dataclass: ingest builds one per event on the hot path.
    """

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    topic: str | None = None


def record_of(event: PreparedEvent) -> Record:
    """The record of an accepted event; headers let consumers route without decoding."""
    return Record(
        event.key, event.value, (("tenant", event.tenant.encode()), ("type", event.type.encode()))
    )
