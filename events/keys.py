"""Record keys, written one way everywhere: the key decides a record's partition.

``touchpoints`` is keyed by the event's primary identity (a person's events
stay in order); the per-customer topics by customer, so one customer's
records meet in one partition and one worker.
"""

from __future__ import annotations


def identity_key(tenant: str, kind: str, value: str) -> str:
    """``tenant|kind:value``: an identifier within its tenant (claims, touchpoint keys)."""
    return f"{tenant}|{kind}:{value}"


def customer_key(tenant: str, customer_id: str) -> str:
    """``tenant|customer id``: per-customer topics and state."""
    return f"{tenant}|{customer_id}"


def split_customer_key(key: str) -> tuple[str, str]:
    tenant, customer_id = key.split("|", 1)
    return tenant, customer_id


def event_key(tenant: str, event_id: str) -> str:
    """``tenant|event id``: a record about one event that has no customer (a dead letter)."""
    return f"{tenant}|{event_id}"
