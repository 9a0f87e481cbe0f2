"""The identity stage: touchpoints in, resolved touchpoints and customer events out.

For each batch: resolve every partition's events in one store transaction
(recording each partition's position), write ``touchpoints.resolved`` and the
new customer events together and wait for the acknowledgement. Only after
that does faust commit the input offsets, so a crash anywhere repeats work
instead of losing it, and repeated work is idempotent (tracked positions,
event ids).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from events.contracts.commands import (
    Command,
    CommandRejected,
    EraseCustomer,
    command_body,
    decode_command,
)
from events.contracts.deadletter import dead_letter
from events.contracts.resolved import ResolvedTouchpoint
from events.keys import event_key
from events.privacy.keystore import KeyStore
from events.records import Record
from events.topics import DEADLETTER, IDENTITY_COMMANDS, TOUCHPOINTS
from events.touchpoint import decode_touchpoint
from services.identity.outcomes import Resolution, Sighting
from services.identity.relay import CustomerEventRelay
from services.identity.resolver import IdentityResolver
from services.kafka.output import OutputWriter

log = logging.getLogger(__name__)


class IdentityStage:
    def __init__(
        self, resolver: IdentityResolver, out: OutputWriter, keys: KeyStore | None = None
    ) -> None:
        """``keys``: where an erasure shreds the customer's keys (None: encryption off)."""
        self.resolver = resolver
        self.keys = keys
        self.out = out
        self.relay = CustomerEventRelay(resolver, out)
        self.processed = 0

    async def handle(self, messages: Sequence[Any]) -> None:
        """``messages`` carry ``partition``, ``offset`` and ``value`` (faust or aiokafka records).

        The whole batch is resolved in one store transaction that records every
        partition's position, then its outputs and the customer events it
        caused go out in one write: one commit and one broker round trip per
        batch, not per partition, which is most of the latency at low traffic,
        when a batch holds a few events from every partition.
        """
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for message in messages:
            by_partition[message.partition].append(message)
        resolved: list[Record] = []
        dead: list[Record] = []
        self._resolve_partitions(sorted(by_partition.items()), resolved, dead)
        await self.relay.relay(resolved=resolved, dead=dead)
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
            items: list[tuple[Any, Command]] = []
            dead: list[Record] = []
            for m in batch:
                try:
                    items.append((m, decode_command(m.value)))
                except CommandRejected as exc:
                    dead.append(_dead(m, "unreadable_command", str(exc), IDENTITY_COMMANDS))
            await self._shred([command for _, command in items])
            stream = f"{IDENTITY_COMMANDS}-{partition}"
            offsets = [(m.offset, command) for m, command in items]
            outcomes = self.resolver.apply_commands(stream, offsets) if items else []
            for (m, command), outcome in zip(items, outcomes, strict=True):
                if outcome.applied:
                    log.info("identity command %s: %s", command.command_id, outcome.detail)
                elif outcome.detail != "already applied":
                    dead.append(_dead_command(m, command, outcome.detail))
            await self.out.write(DEADLETTER, dead)
        await self.relay.relay()

    async def _shred(self, commands: Sequence[Command]) -> None:
        """An erasure's keys go before the store records it: a crash in between repeats the
        (idempotent) shredding instead of leaving the person readable."""
        if self.keys is None:
            return
        for command in commands:
            if isinstance(command, EraseCustomer):
                subjects = self.resolver.erasure_subjects(command.tenant, command)
                if subjects:
                    receipt = await asyncio.to_thread(
                        self.keys.erase, command.tenant, subjects,
                        f"identity command {command.command_id}", command.reason,
                    )  # fmt: skip
                    log.info("identity command %s: shredded %d keys (receipt %s)",
                             command.command_id, receipt.key_count, receipt.receipt_id)  # fmt: skip

    def _resolve_partitions(
        self, partitions: list[tuple[int, list[Any]]], resolved: list[Record], dead: list[Record]
    ) -> None:
        decoded: list[tuple[int, list[tuple[Any, dict[str, Any]]]]] = []
        for partition, messages in partitions:
            envelopes: list[tuple[Any, dict[str, Any]]] = []
            for m in messages:
                try:
                    envelopes.append((m, decode_touchpoint(m.value).as_dict()))
                except Exception as exc:  # a record ingest did not write; keep it with the reason
                    dead.append(
                        _dead(m, "undecodable_touchpoint", f"undecodable touchpoint: {exc!r}")
                    )
            if envelopes:
                decoded.append((partition, envelopes))
        streams = [
            (
                f"{TOUCHPOINTS}-{partition}",
                [(m.offset, Sighting.of_logged(e)) for m, e in envelopes],
            )
            for partition, envelopes in decoded
        ]
        answers = self.resolver.resolve_streams(streams) if streams else []
        for (partition, envelopes), resolutions in zip(decoded, answers, strict=True):
            for (m, envelope), resolution in zip(envelopes, resolutions, strict=True):
                if resolution.customer_id is None:
                    dead.append(_dead_envelope(m, envelope, resolution))
                else:
                    resolved.append(_resolved(envelope, resolution, partition, m.offset))


def _resolved(
    envelope: dict[str, Any], resolution: Resolution, partition: int, offset: int
) -> Record:
    """The touchpoint under its customer; the sighting says where in ``touchpoints`` it was."""
    assert resolution.customer_id is not None
    resolved = ResolvedTouchpoint(
        envelope, resolution.customer_id, tuple(resolution.flags), (partition, offset)
    )
    return Record(resolved.key, resolved.encode(), (("type", envelope["type"].encode()),))


def _dead_command(message: Any, command: Command, reason: str) -> Record:
    body = command_body(command)
    letter = dead_letter(
        "identity",
        "command_not_applied",
        f"identity command not applied: {reason}",
        message,
        topic=IDENTITY_COMMANDS,
        key=command.tenant.encode(),
        command=body,
    )
    return Record(letter.key, letter.encode())


def _dead(message: Any, code: str, reason: str, topic: str = TOUCHPOINTS) -> Record:
    letter = dead_letter("identity", code, reason, message, topic=topic)
    return Record(letter.key, letter.encode())


def _dead_envelope(message: Any, envelope: dict[str, Any], resolution: Resolution) -> Record:
    letter = dead_letter(
        "identity",
        "no_usable_identifier",
        "no usable identifier: " + ", ".join(resolution.flags),
        message,
        topic=TOUCHPOINTS,
        key=event_key(envelope["tenant"], envelope["event_id"]).encode(),
        event=envelope,
    )
    return Record(letter.key, letter.encode())
