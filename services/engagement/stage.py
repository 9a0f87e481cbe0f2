"""The engagement stage: resolved touchpoints in, per-customer state and ``scores`` out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from events.contracts.deadletter import dead_letter
from events.contracts.resolved import (
    Absorb,
    Control,
    Detached,
    Erased,
    MergedInto,
    ResolvedTouchpoint,
    control_key,
    decode_resolved,
    encode_control,
)
from events.contracts.scores import ScoreMessage
from events.identities import identity_digest
from events.keys import customer_key, split_customer_key
from events.records import Record
from events.topics import DEADLETTER, RESOLVED, SCORES
from services.engagement.model import Fact
from services.engagement.state import (
    State,
    absorb,
    add_fact,
    detach,
    moved_away,
    new_state,
    summary,
)
from services.kafka.output import OutputWriter


def fact_of(envelope: Mapping[str, Any]) -> Fact:
    at = datetime.fromisoformat(envelope["occurred_at"].replace("Z", "+00:00"))
    amount = envelope["payload"].get("amount") if envelope["type"].startswith("purchase.") else None
    # subjects, not the values as logged: those are sealed, and differ from event to event
    named = envelope.get("subjects") or envelope["identities"]
    digests = tuple(sorted(identity_digest(k, v) for k, v in named.items()))
    return Fact(envelope["type"], envelope["channel"], int(at.timestamp() * 1000), amount, digests)


class StateTable(Protocol):
    """Per-customer state; ``put`` gets the message that carried the key (faust needs its partition)."""

    def get(self, key: str) -> State | None: ...

    def put(self, key: str, state: State, carrier: Any) -> None: ...

    async def persist(self) -> None:
        """Make every ``put`` so far durable (a faust table: its changelog acknowledged)."""


class EngagementStage:
    def __init__(self, table: StateTable, out: OutputWriter) -> None:
        self.table = table
        self.out = out
        self.processed = 0

    async def handle(
        self, messages: Sequence[tuple[bytes, Any]], after: Sequence[tuple[str, Any, Any]] = ()
    ) -> None:
        """``(value, carrier)`` pairs; the carrier is handed back to ``StateTable.put``.

        ``after``: more ``(key, value, carrier)`` puts, made after the states (the
        stage's positions: a position must never be stored ahead of its states).
        Returns once the states are durable and the scores acknowledged, both
        in flight together.
        """
        touched: dict[str, State] = {}
        carriers: dict[str, Any] = {}
        forward: list[Record] = []
        dead: list[Record] = []
        for value, carrier in messages:
            try:
                message = decode_resolved(value)
                key = customer_key(message.tenant, message.customer_id)
                fact = (
                    fact_of(message.envelope) if isinstance(message, ResolvedTouchpoint) else None
                )
            except Exception as exc:  # a record this stage cannot read: keep it, with the reason
                dead.append(
                    _dead(value, "unreadable_resolved", f"unreadable resolved touchpoint: {exc!r}")
                )
                continue
            state = touched.get(key) or self.table.get(key) or new_state()
            touched[key], carriers[key] = state, carrier
            self._apply(state, message, fact, forward, dead)
        # what moved to another customer is durable there before this state forgets it
        await asyncio.gather(self.out.write(RESOLVED, forward), self.out.write(DEADLETTER, dead))
        for key, state in touched.items():
            self.table.put(key, state, carriers[key])
        for key, value, carrier in after:
            self.table.put(key, value, carrier)
        await asyncio.gather(self.out.write(SCORES, self._scores(touched)), self.table.persist())
        self.processed += len(messages)

    def _apply(
        self,
        state: State,
        message: ResolvedTouchpoint | Control,
        fact: Fact | None,
        forward: list[Record],
        dead: list[Record],
    ) -> None:
        if isinstance(message, MergedInto):
            if state["merged_into"] is None:
                state["merged_into"] = message.survivor_id
                forward.append(
                    _control(Absorb(message.tenant, message.survivor_id, state["facts"]))
                )
                state["facts"] = {}
        elif state["merged_into"] is not None:  # late: follow the merge
            forward.append(_retarget(message, state["merged_into"]))
        elif isinstance(message, Absorb):
            absorb(state, {event: list(row) for event, row in message.facts.items()})
        elif isinstance(message, Detached):
            moved = detach(state, message.identity, message.moved_to, list(message.remaining))
            forward.append(_control(Absorb(message.tenant, message.moved_to, moved)))
        elif isinstance(message, Erased):
            state.update(new_state(), erased=True)
        elif state["erased"]:
            dead.append(_dead(message.encode(), "customer_erased", "customer erased"))
        elif fact is not None and (moved_to := moved_away(state, fact)) is not None:
            forward.append(_retarget(message, moved_to))  # resolved before the unmerge
        elif fact is not None:
            add_fact(state, message.envelope["event_id"], fact)

    @staticmethod
    def _scores(touched: dict[str, State]) -> list[Record]:
        now_ms = int(time.time() * 1000)
        records = []
        for key, state in touched.items():
            if state["merged_into"] is not None or state["erased"]:
                continue
            tenant, customer_id = split_customer_key(key)
            s = summary(state, now_ms)
            message = ScoreMessage(
                tenant,
                customer_id,
                s["model_version"],
                s["as_of_ms"],
                s["events"],
                s["engagement"],
                s["rfm"],
                s["channels"],
            )
            records.append(Record(message.key, message.encode()))
        return records


def _dead(value: bytes, code: str, reason: str) -> Record:
    letter = dead_letter("engagement", code, reason, topic=RESOLVED, value=value)
    return Record(letter.key, letter.encode())


def _control(control: Control) -> Record:
    return Record(control_key(control), encode_control(control))


def _retarget(message: ResolvedTouchpoint | Control, customer_id: str) -> Record:
    """The same record, now for another customer (a merge's survivor, a detach's new owner)."""
    if isinstance(message, ResolvedTouchpoint):
        moved = message.to(customer_id)
        return Record(moved.key, moved.encode())
    return _control(replace(message, customer_id=customer_id))
