"""Accepting a batch of events: authorize, validate, deduplicate, append; all or nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.intake import EventIntake, PreparedEvent
from events.problems import Problem
from events.records import Record, record_of
from events.timestamps import now_utc
from events.validation import MAX_PROBLEMS
from services.auth.keys import ApiKey
from services.ingest.errors import IngestError
from services.ingest.recent_ids import RecentIds
from services.kafka.event_log import EventLog, LogUnavailable
from services.platform.metrics import IngestMetrics

RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Accepted:
    """The answer to a batch that is now durable in the log."""

    event_ids: list[str]
    duplicates: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": len(self.event_ids),
            "event_ids": self.event_ids,
            "duplicates": self.duplicates,
        }


class IngestService:
    def __init__(
        self,
        intake: EventIntake,
        log: EventLog,
        recent: RecentIds,
        clock: Callable[[], datetime] = now_utc,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.intake = intake
        self.log = log
        self.recent = recent
        self.clock = clock
        self.metrics = metrics
        self.accepted = 0  # new events appended since start (the heartbeat's count)

    async def ingest(self, key: ApiKey, events: list[object]) -> Accepted:
        """Append every event or none; raise ``IngestError`` naming each refused event."""
        try:
            accepted, fresh = await self._ingest(key, events)
        except IngestError as refused:
            self._count_refused(refused, events)
            raise
        self.count_accepted(fresh, len(accepted.duplicates))
        return accepted

    async def append_prepared(self, events: list[PreparedEvent]) -> None:
        """Events judged elsewhere (an import job's own intake), appended as one batch: those
        this process accepted lately are left out; raises ``LogUnavailable``."""
        fresh, _ = self._split_duplicates(events)
        await self.log.append([record_of(e) for e in fresh])
        self.recent.add_all([(e.tenant, e.event_id) for e in fresh])
        self.accepted += len(fresh)

    def _count_refused(self, refused: IngestError, events: list[object]) -> None:
        if self.metrics is None:
            return
        named = {e.get("index") for e in refused.errors}
        reason = {422: "invalid", 403: "forbidden", 503: "unavailable"}.get(refused.status)
        for index, event in enumerate(events):
            why = reason if index in named or not named else "batch_refused"
            self.metrics.rejected.labels(why or "refused", self._type_label(event)).inc()

    def _type_label(self, event: object) -> str:
        """A catalogued type, or ``unknown``: a label must not take whatever a client sends."""
        name = event.get("type") if isinstance(event, dict) else None
        return name if isinstance(name, str) and name in self.intake.catalog.types else "unknown"

    async def _ingest(
        self, key: ApiKey, events: list[object]
    ) -> tuple[Accepted, list[PreparedEvent]]:
        _authorize(key, events)
        return await self.append(self._prepare(key, events))

    async def append(
        self, prepared: list[PreparedEvent], beside: Sequence[Record] = ()
    ) -> tuple[Accepted, list[PreparedEvent]]:
        """Append the events not seen lately, and ``beside`` (other topics' records) with them,
        in one transaction; raise a 503 ``IngestError`` when the log does not take them."""
        fresh, duplicates = self._split_duplicates(prepared)
        try:
            await self.log.append([*beside, *(record_of(e) for e in fresh)])
        except LogUnavailable as exc:
            raise IngestError(
                503,
                "log_unavailable",
                f"{exc}; nothing was written, retry with the same event_ids",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        self.recent.add_all([(e.tenant, e.event_id) for e in fresh])
        return Accepted([e.event_id for e in prepared], duplicates), fresh

    def count_accepted(self, fresh: list[PreparedEvent], duplicates: int) -> None:
        """What ``ingest`` counts of a batch it took, for callers of ``append``."""
        self.accepted += len(fresh)
        if self.metrics is not None:
            for event in fresh:
                self.metrics.accepted.labels(event.type).inc()
            self.metrics.duplicates.inc(duplicates)

    def _prepare(self, key: ApiKey, events: list[object]) -> list[PreparedEvent]:
        results = self.intake.prepare_batch(events, key.tenant, self.clock())
        errors = [
            p.as_dict(index) for index, r in enumerate(results) if isinstance(r, list) for p in r
        ]
        if errors:
            bad = len({e["index"] for e in errors})
            shown = ""
            if len(errors) > MAX_PROBLEMS:
                shown = f" (the first {MAX_PROBLEMS} of {len(errors)} problems are listed)"
            raise IngestError(
                422,
                "invalid_events",
                f"{bad} of {len(events)} events are invalid; nothing was written{shown}",
                errors[:MAX_PROBLEMS],
            )
        return [r for r in results if isinstance(r, PreparedEvent)]

    def _split_duplicates(
        self, prepared: list[PreparedEvent]
    ) -> tuple[list[PreparedEvent], list[str]]:
        fresh: list[PreparedEvent] = []
        duplicates: list[str] = []
        seen: set[str] = set()
        for event in prepared:
            if event.event_id in seen or (event.tenant, event.event_id) in self.recent:
                duplicates.append(event.event_id)
                continue
            seen.add(event.event_id)
            fresh.append(event)
        return fresh, duplicates


def _authorize(key: ApiKey, events: list[object]) -> None:
    if key.role != "publisher":
        raise IngestError(403, "forbidden", f"a key with role {key.role!r} may not publish events")
    errors = [
        p.as_dict(index)
        for index, event in enumerate(events)
        if isinstance(event, dict)
        for p in _forbidden(key, event)
    ]
    if errors:
        raise IngestError(403, "forbidden", "this key may not publish some of these events", errors)


def _forbidden(key: ApiKey, event: dict[str, Any]) -> list[Problem]:
    problems = []
    tenant = event.get("tenant")
    if tenant is not None and tenant != key.tenant:
        problems.append(Problem("/tenant", f"this key publishes for tenant {key.tenant!r} only"))
    event_type = event.get("type")
    if isinstance(event_type, str) and not key.may_publish(event_type):
        allowed = ", ".join(key.types)
        problems.append(Problem("/type", f"this key may publish only: {allowed}"))
    return problems
