"""One customer's state as the engagement stage keeps it (a faust table value).

Facts are keyed by event_id, so a duplicate is a no-op and a merge is a
union: the score is a function of the set, whatever the order of arrival.
An absorbed customer keeps ``merged_into`` and forwards anything late to
its survivor.
"""

from __future__ import annotations

from typing import Any

from services.engagement.model import Fact, summarize

State = dict[str, Any]


def new_state() -> State:
    return {"facts": {}, "merged_into": None, "erased": False}


def add_fact(state: State, event_id: str, fact: Fact) -> bool:
    """Record a fact; False when the event was already counted."""
    if event_id in state["facts"]:
        return False
    state["facts"][event_id] = fact.as_list()
    return True


def absorb(state: State, facts: dict[str, list[Any]]) -> int:
    added = 0
    for event_id, row in facts.items():
        if event_id not in state["facts"]:
            state["facts"][event_id] = row
            added += 1
    return added


def detach(state: State, identity: str, moved_to: str, remaining: list[str]) -> dict[str, Any]:
    """An unmerge: take out the facts that carried ``identity`` and none of ``remaining``.

    Returns them (for ``moved_to`` to absorb) and remembers the move, so a
    fact resolved here before the unmerge but arriving after it follows.
    """
    stays = set(remaining)
    moved = {
        event_id: row
        for event_id, row in state["facts"].items()
        if _carries(row, identity) and not stays.intersection(_digests(row))
    }
    for event_id in moved:
        del state["facts"][event_id]
    state.setdefault("moved", {})[identity] = {"to": moved_to, "remaining": sorted(stays)}
    return moved


def moved_away(state: State, fact: Fact) -> str | None:
    """Where a late fact goes if it belongs to an identifier detached from this customer."""
    for identity, move in state.get("moved", {}).items():
        if identity in fact.identities and not set(move["remaining"]) & set(fact.identities):
            return str(move["to"])
    return None


def _digests(row: list[Any]) -> list[str]:
    return list(row[4]) if len(row) > 4 else []


def _carries(row: list[Any], identity: str) -> bool:
    return identity in _digests(row)


def facts_of(state: State) -> list[Fact]:
    return [Fact.from_list(row) for row in state["facts"].values()]


def summary(state: State, as_of_ms: int) -> dict[str, Any]:
    return summarize(facts_of(state), as_of_ms)
