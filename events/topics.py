"""The names of the topics Touchline owns: one registry every wing reads.

How each is created (partitions, retention) is ``services/kafka/topics.py``;
what each message looks like is ``events/contracts/`` and ``schemas/topics/``.
"""

from __future__ import annotations

TOUCHPOINTS = "touchpoints"  # the log of record; never expires
DEADLETTER = "touchpoints.deadletter"  # what a stage gave up on, with the reason
RESOLVED = "touchpoints.resolved"  # touchpoints with their customer, and merge/detach controls
CUSTOMERS = "customers"  # the identity store's customer events, each with the whole profile
SCORES = "scores"  # engagement, RFM and channel activity per customer, at every change
SEGMENTS = "segments"  # a customer entered or left a segment, and why
IDENTITY_COMMANDS = "identity.commands"  # unmerges and erasures, applied by the worker
WEBHOOKS_RAW = "webhooks.raw"  # provider webhook deliveries as received (sealed); never expires
HEARTBEATS = "touchline.heartbeats"  # stages say they are alive (for /healthz and `status`)
ENGAGEMENT_TABLE = "customer_state"  # the worker's faust table of per-customer engagement state


def changelog_topic(worker_group: str) -> str:
    """The engagement table's changelog, named as faust names it (``<app id>-<table>-changelog``)."""
    return f"{worker_group}-{ENGAGEMENT_TABLE}-changelog"
