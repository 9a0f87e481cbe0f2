"""Valid example events, one per channel family, for tests to start from and break."""

from __future__ import annotations

import copy
import uuid
from typing import Any


def call_completed(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": "call.completed",
        "schema_version": 1,
        "occurred_at": "2026-11-20T09:15:00+09:00",
        "source": "pbx",
        "identities": {"phone": "(415) 555-2671"},
        "payload": {
            "call_id": "c-1",
            "direction": "inbound",
            "duration_s": 252,
            "agent": "Sato",
            "disposition": "resolved",
        },
    }
    event.update(changes)
    return event


def purchase_v1(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": "purchase.completed",
        "schema_version": 1,
        "occurred_at": "2026-11-20T03:00:00Z",
        "source": "pos-legacy",
        "identities": {"loyalty_id": "L100042"},
        "payload": {"order_id": "ord-1", "total": 12800, "currency": "JPY", "store_id": "shibuya"},
    }
    event.update(changes)
    return event


def chat_message(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": "chat.message_received",
        "schema_version": 1,
        "occurred_at": "2026-11-20T03:01:00Z",
        "source": "chat-widget",
        "identities": {"email": " Tanaka@Example.COM "},
        "payload": {"chat_id": "chat-1", "text": "Where is my order?"},
    }
    event.update(changes)
    return event


def batch(n: int) -> list[dict[str, Any]]:
    makers = [call_completed, chat_message, purchase_v1]
    return [makers[i % 3]() for i in range(n)]


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    """A deep copy of ``event`` with the field at ``path`` removed."""
    copy_ = copy.deepcopy(event)
    node = copy_
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return copy_
