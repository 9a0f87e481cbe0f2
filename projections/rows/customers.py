"""``customers`` to ``customers``, ``customer_aliases``, ``customer_merges`` and ``identities`` rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import pyarrow as pa

from projections.rows.common import (
    UNREADABLE,
    Rejected,
    SourceRecord,
    decode,
    ms,
    reject,
    table_of,
    text,
    us,
)
from projections.rows.schemas import (
    CUSTOMER_ALIASES_SCHEMA,
    CUSTOMER_MERGES_SCHEMA,
    CUSTOMERS_SCHEMA,
    IDENTITIES_SCHEMA,
)

# -- customers -> customers, customer_aliases, identities -----------------------------


class _CustomerEvent(NamedTuple):
    """The parts of a ``customers`` record every table reads."""

    type: str
    tenant: str
    customer_id: str
    recorded_us: int
    data: dict[str, Any]
    profile: dict[str, Any]


def customer_rows(
    records: Iterable[SourceRecord], rejected: list[Rejected] | None = None
) -> dict[str, pa.Table]:
    """``customers``, ``customer_aliases`` and ``identities`` rows from customer events.

    - ``customers``: one row per customer in the batch, from the record whose
      ``profile.version`` is highest (the last such record on a tie): the
      profile is the whole customer as the identity store knew it when it was
      relayed, so the newest one replaces the rest (ReplacingMergeTree(version),
      version = the Customer aggregate's version). ``survivor_id`` is
      ``merged_into`` or the customer itself.
    - ``customer_aliases``: ``MergedIntoSurvivor`` maps the merged-away customer
      to its survivor; ``CustomersMerged`` re-points the absorbed customer and
      every id in the survivor's ``profile.aliases`` to the survivor, so an
      alias of an alias follows the chain to the current survivor.
    - ``customer_merges``: one row per ``CustomersMerged`` (the absorbed customer, with who
      decided and why: ``data.decided``, absent or null when the identity rules merged) and
      per ``IdentityDetached`` (the new customer), never re-pointed: the merge history.
    - ``identities``: ``IdentityLinked`` links (kind, value) to the customer;
      ``CustomersMerged`` re-points the absorbed customer's identifiers to the
      survivor. ``IdentityDetached`` gives nothing: the new owner's
      ``IdentityLinked`` follows it. ``CustomerErased`` gives nothing either:
      its profile no longer holds the values, so the projector must write
      ``linked = false`` rows for the identities it has for the customer and
      its aliases (``version`` = the erasure's ``recorded_at`` in µs, as below).

    ``version`` in ``customer_aliases`` and ``identities`` is the event's
    ``recorded_at`` in microseconds since the epoch, not an aggregate version:
    rows for one key come from different customers (the alias and each later
    survivor; the old and new owner of an identifier), whose aggregate
    versions do not compare, while the identity store records a later change
    at a later time.
    """
    profiles: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
    aliases: list[tuple[str, str, str, int, str, str, int]] = []
    identities: list[tuple[str, str, str, str, int, bool, int]] = []
    history: list[tuple[Any, ...]] = []
    for record in records:
        body = decode(record, rejected)
        if body is None:
            continue
        try:
            event = _customer_event(body)
            profile, linked, merged, changed = (
                _customer_row(event),
                _identity_rows(event),
                _alias_rows(event),
                _history_rows(event),
            )
        except UNREADABLE as exc:
            reject(record, f"not a customer event with a profile: {exc!r}", rejected)
            continue
        key, version = (event.tenant, event.customer_id), profile[2]
        if key not in profiles or version >= profiles[key][0]:
            profiles[key] = (version, profile)
        aliases += merged
        identities += linked
        history += changed
    return {
        "customers": table_of(CUSTOMERS_SCHEMA, [row for _, row in profiles.values()]),
        "customer_aliases": table_of(CUSTOMER_ALIASES_SCHEMA, aliases),
        "customer_merges": table_of(CUSTOMER_MERGES_SCHEMA, history),
        "identities": table_of(IDENTITIES_SCHEMA, identities),
    }


def _customer_event(body: dict[str, Any]) -> _CustomerEvent:
    return _CustomerEvent(
        text(body["type"]),
        text(body["tenant"]),
        text(body["customer_id"]),
        us(body["recorded_at"]),
        dict(body.get("data") or {}),
        dict(body["profile"]),
    )


def _alias_rows(event: _CustomerEvent) -> list[tuple[str, str, str, int, str, str, int]]:
    data, at = event.data, event.recorded_us // 1000
    reason, cause = str(data.get("reason", "")), str(data.get("cause_event_id", ""))
    if event.type == "MergedIntoSurvivor":
        survivor = text(data["survivor_id"])
        return [(event.tenant, event.customer_id, survivor, event.recorded_us, reason, cause, at)]
    if event.type != "CustomersMerged":
        return []
    absorbed = [
        data.get("absorbed_id"),
        *data.get("absorbed_aliases", ()),
        *event.profile.get("aliases", ()),
    ]
    ids = dict.fromkeys(str(a) for a in absorbed if a and str(a) != event.customer_id)
    return [
        (event.tenant, alias, event.customer_id, event.recorded_us, reason, cause, at)
        for alias in ids
    ]


def _history_rows(event: _CustomerEvent) -> list[tuple[Any, ...]]:
    data, at, version = event.data, event.recorded_us // 1000, event.recorded_us
    if event.type == "IdentityDetached":
        moved = text(data["moved_to"])
        return [(event.tenant, event.customer_id, moved, "detached", at, "", str(data["reason"]),
                 "", None, "", str(data["kind"]), "", version)]  # fmt: skip
    if event.type != "CustomersMerged":
        return []
    decided = data.get("decided") or {}
    score = decided.get("score")
    return [
        (event.tenant, event.customer_id, text(data["absorbed_id"]), "merged", at,
         str(decided.get("basis") or "identifier"), str(data.get("reason", "")),
         str(decided.get("rule") or ""), None if score is None else float(score),
         str(decided.get("requested_by") or ""), "", str(data.get("cause_event_id", "")), version)
    ]  # fmt: skip


def _identity_rows(event: _CustomerEvent) -> list[tuple[str, str, str, str, int, bool, int]]:
    data, at = event.data, event.recorded_us // 1000
    if event.type == "IdentityLinked":
        pairs = [(data["kind"], data["value"])]
    elif event.type == "CustomersMerged":
        pairs = [
            (kind, value)
            for kind, values in (data.get("identities") or {}).items()
            for value in values
        ]
    else:
        return []
    return [
        (event.tenant, str(kind), str(value), event.customer_id, event.recorded_us, True, at)
        for kind, value in pairs
    ]


def _customer_row(e: _CustomerEvent) -> tuple[Any, ...]:
    profile = e.profile
    identities = profile.get("identities") or {}
    consent = profile.get("consent") or {}
    return (
        e.tenant,
        e.customer_id,
        int(profile["version"]),
        ms(profile["first_seen"]),
        [(text(kind), [text(v) for v in values]) for kind, values in identities.items()],
        [(text(channel), bool(granted)) for channel, granted in consent.items()],
        str(profile.get("merged_into") or e.customer_id),
        bool(profile.get("erased")),
        e.recorded_us // 1000,
    )
