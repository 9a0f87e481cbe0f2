"""The identity stage: touchpoints in, resolved touchpoints and customer events out.

For each partition of a batch: resolve (one store transaction, with the
position), write ``touchpoints.resolved`` and wait for the acknowledgement,
then relay the new customer events. Only after that does faust commit the
input offsets, so a crash anywhere repeats work instead of losing it, and
repeated work is idempotent (tracked positions, event ids).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson

from events.touchpoint import decode_touchpoint
from services.identity.commands import Command, CommandRejected, decode_command, encode_command
from services.identity.relay import CustomerEventRelay
from services.identity.resolver import IdentityResolver, Resolution, Sighting
from services.kafka.records import Record
from services.kafka.topics import DEADLETTER, IDENTITY_COMMANDS, RESOLVED, TOUCHPOINTS
from services.streams.output import OutputWriter

log = logging.getLogger(__name__)


class IdentityStage:
    def __init__(self, resolver: IdentityResolver, out: OutputWriter) -> None:
        self.resolver = resolver
        self.out = out
        self.relay = CustomerEventRelay(resolver, out)
        self.processed = 0

    async def handle(self, messages: Sequence[Any]) -> None:
        """``messages`` carry ``partition``, ``offset`` and ``value`` (faust or aiokafka records).

        Each partition is resolved in its own store transaction (one position
        each), then the whole batch's outputs go out in one write: one broker
        round trip per batch, not per partition, which is most of the latency
        at low traffic when a batch holds a few events from every partition.
        """
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for message in messages:
            by_partition[message.partition].append(message)
        resolved: list[Record] = []
        dead: list[Record] = []
        for partition, batch in sorted(by_partition.items()):
            self._resolve_partition(partition, batch, resolved, dead)
        await asyncio.gather(self.out.write(RESOLVED, resolved), self.out.write(DEADLETTER, dead))
        await self.relay.relay()
        self.processed += len(messages)

    async def handle_commands(self, messages: Sequence[Any]) -> None:
        """Unmerge and erasure commands from ``identity.commands``, applied like touchpoints.

        A command that cannot be applied (unknown identifier, already erased,
        unreadable) is dead-lettered with the reason, never dropped.
        """
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for message in messages:
            by_partition[message.partition].append(message)
        for partition, batch in sorted(by_partition.items()):
            items: list[tuple[int, Command]] = []
            dead: list[Record] = []
            for m in batch:
                try:
                    items.append((m.offset, decode_command(m.value)))
                except CommandRejected as exc:
                    dead.append(_dead(m, str(exc), IDENTITY_COMMANDS))
            outcomes = (
                self.resolver.apply_commands(f"{IDENTITY_COMMANDS}-{partition}", items)
                if items
                else []
            )
            for (offset, command), outcome in zip(items, outcomes, strict=True):
                if outcome.applied:
                    log.info("identity command %s: %s", command.command_id, outcome.detail)
                elif outcome.detail != "already applied":
                    dead.append(_dead_command(command, offset, partition, outcome.detail))
            await self.out.write(DEADLETTER, dead)
        await self.relay.relay()

    def _resolve_partition(
        self, partition: int, messages: list[Any], resolved: list[Record], dead: list[Record]
    ) -> None:
        envelopes: list[tuple[int, dict[str, Any]]] = []
        for m in messages:
            try:
                envelopes.append((m.offset, decode_touchpoint(m.value).as_dict()))
            except Exception as exc:  # a record ingest did not write; keep it with the reason
                dead.append(_dead(m, f"undecodable touchpoint: {exc!r}"))
        items = [(offset, _sighting(e)) for offset, e in envelopes]
        resolutions = (
            self.resolver.resolve_batch(f"{TOUCHPOINTS}-{partition}", items) if items else []
        )
        for (offset, envelope), resolution in zip(envelopes, resolutions, strict=True):
            if resolution.customer_id is None:
                dead.append(_dead_envelope(envelope, offset, partition, resolution))
            else:
                resolved.append(_resolved(envelope, resolution))


def _sighting(envelope: dict[str, Any]) -> Sighting:
    return Sighting(envelope["tenant"], envelope["event_id"], envelope["occurred_at"],
                    envelope["type"], envelope["identities"])  # fmt: skip


def _resolved(envelope: dict[str, Any], resolution: Resolution) -> Record:
    body = {
        **envelope,
        "customer_id": resolution.customer_id,
        "identity_flags": list(resolution.flags),
    }
    key = f"{envelope['tenant']}|{resolution.customer_id}".encode()
    return Record(key, orjson.dumps(body), (("type", envelope["type"].encode()),))


def _dead_command(command: Command, offset: int, partition: int, reason: str) -> Record:
    body = {"stage": "identity", "reason": f"identity command not applied: {reason}",
            "topic": IDENTITY_COMMANDS, "partition": partition, "offset": offset,
            "command": orjson.loads(encode_command(command).value)}  # fmt: skip
    return Record(command.tenant.encode(), orjson.dumps(body))


def _dead(message: Any, reason: str, topic: str = TOUCHPOINTS) -> Record:
    body = {"stage": "identity", "reason": reason, "topic": topic,
            "partition": message.partition, "offset": message.offset,
            "value": bytes(message.value).decode("utf-8", "replace")}  # fmt: skip
    return Record(bytes(message.key or b""), orjson.dumps(body))


def _dead_envelope(
    envelope: dict[str, Any], offset: int, partition: int, resolution: Resolution
) -> Record:
    body = {"stage": "identity", "reason": "no usable identifier: " + ", ".join(resolution.flags),
            "topic": TOUCHPOINTS, "partition": partition, "offset": offset, "event": envelope}  # fmt: skip
    return Record(f"{envelope['tenant']}|{envelope['event_id']}".encode(), orjson.dumps(body))
