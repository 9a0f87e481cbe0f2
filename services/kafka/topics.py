"""The topics Touchline owns, created explicitly (the broker never auto-creates); names in ``events.topics``.

``touchpoints`` is the log of record and never expires; so do the topics that a
projection may be replayed from. Partition counts leave room to scale consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from events.topics import (
    CUSTOMERS,
    DEADLETTER,
    HEARTBEATS,
    IDENTITY_COMMANDS,
    RESOLVED,
    SCORES,
    SEGMENTS,
    TOUCHPOINTS,
    WEBHOOKS_RAW,
    changelog_topic,
)
from services.platform.settings import Settings

_KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
_COMPACTED = {"cleanup.policy": "compact"}
_A_DAY = {"retention.ms": str(86_400_000), "cleanup.policy": "delete"}
_TOPIC_ALREADY_EXISTS = 36


class TopicError(RuntimeError):
    """The broker refused to create a topic."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=lambda: dict(_KEEP_FOREVER))


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the pipeline uses, with the partitioning later stages rely on."""
    n = settings.kafka_partitions
    return [
        TopicSpec(TOUCHPOINTS, n),
        TopicSpec(DEADLETTER, 3),
        TopicSpec(RESOLVED, n),
        TopicSpec(CUSTOMERS, n),
        TopicSpec(SCORES, n),
        TopicSpec(SEGMENTS, n),  # projected, so kept like the other sources
        TopicSpec(IDENTITY_COMMANDS, 3),  # few and rare: unmerges and erasures
        TopicSpec(WEBHOOKS_RAW, 3),  # replayed whole, in order per connector
        TopicSpec(HEARTBEATS, 1, dict(_A_DAY)),  # one partition: a reader sees every stage
        # faust declares its table's changelog itself, but only as the worker starts;
        # a consumer that fetched metadata first saw the topic with 0 partitions
        # until the next metadata refresh (5 min), and every engagement batch failed
        # with PartitionsMismatch meanwhile (seen in bench runs on a fresh broker).
        TopicSpec(changelog_topic(settings.worker_group), n, dict(_COMPACTED)),
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; return the names created. Existing ones are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15000
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing]
        )
        for topic, code, message in _topic_errors(response):
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise TopicError(f"creating topic {topic!r} failed: error {code} {message}")
        return [s.name for s in missing]
    finally:
        await admin.close()


async def wait_for_coordinator(settings: Settings, timeout_s: float = 60.0) -> None:
    """Return once the broker can coordinate consumer groups.

    A broker that has just started creates its offsets topic on the first
    group request; until then every consumer logs GroupCoordinatorNotAvailable
    as an error. Starting the worker and projector after this keeps a normal
    start's logs clean.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            await admin.list_consumer_group_offsets(settings.worker_group)
            return
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            with contextlib.suppress(KafkaError, RuntimeError):
                await admin.close()


def _topic_errors(response: object) -> list[tuple[str, int, str]]:
    errors = getattr(response, "topic_errors", [])
    return [(e[0], e[1], e[2] if len(e) > 2 else "") for e in errors]
