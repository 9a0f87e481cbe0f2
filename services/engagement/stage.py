"""The engagement stage: resolved touchpoints in, per-customer state and ``scores`` out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from events.contracts.deadletter import dead_letter
from events.identities import identity_digest
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
from services.kafka.records import Record
from services.kafka.topics import DEADLETTER, RESOLVED, SCORES
from services.streams.output import OutputWriter


def fact_of(envelope: dict[str, Any]) -> Fact:
    at = datetime.fromisoformat(envelope["occurred_at"].replace("Z", "+00:00"))
    amount = envelope["payload"].get("amount") if envelope["type"].startswith("purchase.") else None
    digests = tuple(sorted(identity_digest(k, v) for k, v in envelope["identities"].items()))
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
                body = orjson.loads(value)
                key = f"{body['tenant']}|{body['customer_id']}"
                fact = None if "control" in body else fact_of(body)
            except Exception as exc:  # a record this stage cannot read: keep it, with the reason
                dead.append(
                    _dead(value, "unreadable_resolved", f"unreadable resolved touchpoint: {exc!r}")
                )
                continue
            state = touched.get(key) or self.table.get(key) or new_state()
            touched[key], carriers[key] = state, carrier
            self._apply(state, body, fact, forward, dead)
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
        body: dict[str, Any],
        fact: Fact | None,
        forward: list[Record],
        dead: list[Record],
    ) -> None:
        control = body.get("control")
        if control == "merged_into":
            if state["merged_into"] is None:
                state["merged_into"] = body["survivor_id"]
                forward.append(
                    _to(
                        body["tenant"],
                        body["survivor_id"],
                        {"control": "absorb", "facts": state["facts"]},
                    )
                )
                state["facts"] = {}
        elif state["merged_into"] is not None:
            forward.append(
                _to(body["tenant"], state["merged_into"], body)
            )  # late: follow the merge
        elif control == "absorb":
            absorb(state, body["facts"])
        elif control == "detached":
            moved = detach(state, body["identity"], body["moved_to"], body["remaining"])
            forward.append(
                _to(body["tenant"], body["moved_to"], {"control": "absorb", "facts": moved})
            )
        elif control == "erased":
            state.update(new_state(), erased=True)
        elif state["erased"]:
            dead.append(_dead(orjson.dumps(body), "customer_erased", "customer erased"))
        elif fact is not None and (moved_to := moved_away(state, fact)) is not None:
            forward.append(_to(body["tenant"], moved_to, body))  # resolved before the unmerge
        elif fact is not None:
            add_fact(state, body["event_id"], fact)

    @staticmethod
    def _scores(touched: dict[str, State]) -> list[Record]:
        now_ms = int(time.time() * 1000)
        records = []
        for key, state in touched.items():
            if state["merged_into"] is not None or state["erased"]:
                continue
            tenant, customer_id = key.split("|", 1)
            body = {"tenant": tenant, "customer_id": customer_id, **summary(state, now_ms)}
            records.append(Record(key.encode(), orjson.dumps(body)))
        return records


def _dead(value: bytes, code: str, reason: str) -> Record:
    letter = dead_letter("engagement", code, reason, topic=RESOLVED, value=value)
    return Record(letter.key, letter.encode())


def _to(tenant: str, customer_id: str, body: dict[str, Any]) -> Record:
    body = {**body, "tenant": tenant, "customer_id": customer_id}
    return Record(f"{tenant}|{customer_id}".encode(), orjson.dumps(body))
