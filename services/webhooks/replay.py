"""Replaying ``webhooks.raw`` through today's mappings: what a fixed mapping adds reaches the log.

Each stored delivery is opened, mapped again and judged by intake at the time it was received;
event ids are the provider's, so what the mapping still produces has the ids it had, and only
ids the delivery did not give when it arrived are published (the rest is in ``touchpoints``
already; a second replay's repeats are removed downstream, where deduplication is exact).
A delivery that names an erased person no longer opens and is counted, not replayed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer

from events.intake import EventIntake, PreparedEvent
from events.records import record_of
from events.topics import TOUCHPOINTS, WEBHOOKS_RAW
from projections.log import partitions_of
from services.kafka.event_log import KafkaEventLog
from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from services.webhooks.provider import Provider
from services.webhooks.raw_log import RawEntry, RawUnreadable, open_raw
from services.webhooks.registry import PROVIDERS

CHUNK = 1000


@dataclass
class ReplaySummary:
    deliveries: int = 0  # stored deliveries of the chosen connectors, opened and mapped
    repeats: int = 0  # the same delivery stored again (a provider's retry)
    erased: int = 0  # naming an erased person: no longer readable
    unreadable: int = 0  # not a raw record, or a seal that does not open
    reproduced: int = 0  # touchpoints with the ids the deliveries gave when received
    published: int = 0  # touchpoints the deliveries did not give then (the mapping's change)
    refused: int = 0  # envelopes intake refused
    unmapped: Counter[str] = field(default_factory=Counter)
    published_ids: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.unmapped.items())) or "none"
        return [
            f"deliveries {self.deliveries} (repeats {self.repeats}, erased {self.erased}, "
            f"unreadable {self.unreadable})",
            f"touchpoints reproduced {self.reproduced}, new {self.published}, "
            f"refused by intake {self.refused}",
            f"unmapped: {kinds}",
        ]


async def replay(
    settings: Settings,
    connector_id: str | None,
    providers: Mapping[str, Provider] = PROVIDERS,
    dry_run: bool = False,
) -> ReplaySummary:
    """Replay every delivery of ``connector_id`` (None: of every connector)."""
    protector = open_protector(settings)
    intake = EventIntake(settings.default_phone_region, protector=protector)
    summary = ReplaySummary()
    fresh: list[PreparedEvent] = []
    seen: set[tuple[str, str]] = set()
    async for value in _stored(settings.kafka_bootstrap):
        head = _peek(value)
        if head is None:
            summary.unreadable += 1
            continue
        if connector_id is not None and head.get("connector_id") != connector_id:
            continue
        try:
            entry = open_raw(value, protector)
        except RawUnreadable:
            summary.unreadable += 1
            continue
        if (entry.connector_id, entry.delivery_id) in seen:
            summary.repeats += 1
            continue
        seen.add((entry.connector_id, entry.delivery_id))
        fresh += _remap(entry, intake, providers, summary)
    summary.published = len(fresh)
    summary.published_ids = [e.event_id for e in fresh]
    if fresh and not dry_run:
        await _publish(settings, fresh)
    return summary


def _remap(
    entry: RawEntry,
    intake: EventIntake,
    providers: Mapping[str, Provider],
    summary: ReplaySummary,
) -> list[PreparedEvent]:
    if entry.delivery is None:
        summary.erased += 1
        return []
    provider = providers.get(entry.provider)
    if provider is None:
        summary.unreadable += 1
        return []
    summary.deliveries += 1
    mapped = provider.map(entry.delivery, checked=False)  # intake judges them below
    summary.unmapped.update(f"{entry.provider}:{u.kind}" for u in mapped.unmapped)
    envelopes: list[object] = list(mapped.envelopes)
    results = intake.prepare_batch(envelopes, entry.tenant, entry.delivery.received_at)
    known = set(entry.event_ids)
    new: list[PreparedEvent] = []
    for result in results:
        if not isinstance(result, PreparedEvent):
            summary.refused += 1
        elif result.event_id in known:
            summary.reproduced += 1
        else:
            new.append(result)
    return new


def _peek(value: bytes) -> dict[str, object] | None:
    try:
        head = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return head if isinstance(head, dict) else None


async def _stored(bootstrap: str) -> AsyncIterator[bytes]:
    """Every committed value of ``webhooks.raw``, up to its end when the replay began."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        group_id=None,
    )
    partitions = await partitions_of(bootstrap, [WEBHOOKS_RAW])
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        todo = {tp: end for tp, end in ends.items() if end > await consumer.position(tp)}
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=CHUNK)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < todo.get(tp, 0) and record.value is not None:
                        yield record.value
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
    finally:
        await consumer.stop()


async def _publish(settings: Settings, events: list[PreparedEvent]) -> None:
    log = KafkaEventLog(
        settings.kafka_bootstrap,
        TOUCHPOINTS,
        transactional_id=f"touchline-webhook-replay-{uuid.uuid4().hex[:12]}",
        ack_timeout_ms=settings.kafka_ack_timeout_ms,
        lanes=1,
    )
    await log.start()
    try:
        for start in range(0, len(events), CHUNK):
            await log.append([record_of(e) for e in events[start : start + CHUNK]])
    finally:
        await log.stop()
