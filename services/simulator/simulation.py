"""A whole simulated tenant: history for N people, plus the anomalies real pipelines see.

The output stream is in *arrival* order: mostly by event time, with a share of
events arriving out of order or late, sent twice, or invalid. Given the same
seed and end time the output is byte-for-byte the same.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from events.identities import normalize_email, normalize_phone, normalize_social
from events.timestamps import format_instant
from services.simulator.journeys import CAMPAIGNS, Event, Journeys
from services.simulator.master import MasterConfig, MasterExport, make_master
from services.simulator.population import JUNK_EMAILS, Person, make_population
from services.simulator.profiles import make_profiles


@dataclass(frozen=True)
class SimulationConfig:
    customers: int = 100
    seed: int = 1
    end: datetime | None = None
    days: int = 90
    tenant: str = "demo"
    duplicate_rate: float = 0.02
    disorder_rate: float = 0.05
    late_rate: float = 0.01
    invalid_rate: float = 0.01
    junk_rate: float = 0.003
    region: str = "US"  # the people's phone numbers: US, or JP (Japanese mobiles)
    master: MasterConfig | None = None  # also a customer-master export, with its dirt


@dataclass
class Simulation:
    """Generated events, the truth behind every identifier, and counts of what was injected."""

    config: SimulationConfig
    people: list[Person]
    events: list[Event]
    stats: Counter[str] = field(default_factory=Counter)
    master: MasterExport | None = None

    def truth(self) -> Iterator[dict[str, Any]]:
        """Each normalized identifier and the person behind it (None for shared junk values).

        With a master export, also the identifiers only the master holds (second customer
        numbers, mistyped emails, landlines), and each of its rows as ``kind`` ``master_row``
        with ``value`` its row number in the file (the header is row 1).
        """
        seen: set[tuple[str, str]] = set()
        for p in self.people:
            for kind, value in p.identities().items():
                seen.add((kind, value))
                yield {"kind": kind, "value": value, "person_id": p.person_id, "name": p.name}
        for junk in JUNK_EMAILS:
            yield {"kind": "email", "value": junk, "person_id": None, "name": None}
        if self.master:
            yield from _master_truth(self.master, {p.person_id: p for p in self.people}, seen)


def _master_truth(
    master: MasterExport, people: dict[str, Person], seen: set[tuple[str, str]]
) -> Iterator[dict[str, Any]]:
    for number, row in enumerate(master.rows, start=2):
        name = people[row.person_id].name
        for kind, value in row.identities:
            if (kind, value) not in seen:
                seen.add((kind, value))
                yield {"kind": kind, "value": value, "person_id": row.person_id, "name": name}
        yield {
            "kind": "master_row",
            "value": str(number),
            "person_id": row.person_id,
            "name": name,
            "customer_ref": row.customer_ref,
            "duplicate": row.duplicate,
        }


def simulate(config: SimulationConfig, end: datetime) -> Simulation:
    rng = random.Random(config.seed)
    people = _with_profiles(make_population(config.customers, rng, config.region), config.seed)
    journeys = Journeys(rng, config.tenant, config.junk_rate, region=config.region)
    start = end - timedelta(days=config.days)
    history: list[Event] = []
    for person in people:
        history += journeys.person_history(person, start, end)
    for week in range(config.days // 7):
        at = start + timedelta(days=7 * week + 2, hours=9)
        history += journeys.campaign(people, at, CAMPAIGNS[week % len(CAMPAIGNS)])
    master = None
    if config.master:
        master_rng = random.Random(f"master:{config.seed}")
        master = make_master(people, config.master, master_rng)
        history += _web_registrations(master, config, master_rng, start, end)
    cutoff = format_instant(end)
    history = [e for e in history if e["occurred_at"] <= cutoff]
    history.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    sim = Simulation(config, people, history, master=master)
    sim.stats["valid"] = len(history)
    sim.events = _with_anomalies(history, config, rng, sim.stats)
    return sim


def _with_profiles(people: list[Person], seed: int) -> list[Person]:
    names = [(int(p.person_id[1:]), p.given_name, p.family_name) for p in people]
    return [
        replace(p, profile=pr) for p, pr in zip(people, make_profiles(names, seed), strict=True)
    ]


def _web_registrations(
    master: MasterExport,
    config: SimulationConfig,
    rng: random.Random,
    start: datetime,
    end: datetime,
) -> list[Event]:
    """The sign-up forms of people registered twice on the web shop (their own generator)."""
    journeys = Journeys(rng, config.tenant, config.junk_rate, region=config.region)
    span = (end - start).total_seconds()
    events: list[Event] = []
    for person, email in master.web_registrations:
        at = start + timedelta(seconds=rng.random() * span)
        events += journeys.registration(person, at, email)
    return events


def live_events(journeys: Journeys, person: Person, now: datetime) -> list[Event]:
    """What one person does around ``now`` (demo traffic); nothing dated in the future."""
    activity = journeys.rng.choice(
        [journeys.call, journeys.chat, journeys.web_session, journeys.store_trip]
    )
    events = activity(person, now - timedelta(minutes=journeys.rng.randint(1, 10)))
    cutoff = format_instant(now)
    return [e for e in events if e["occurred_at"] <= cutoff]


def _with_anomalies(
    events: list[Event], cfg: SimulationConfig, rng: random.Random, stats: Counter[str]
) -> list[Event]:
    stream: list[Event] = list(events)
    late: list[Event] = []
    for i in range(len(stream)):
        roll = rng.random()
        if roll < cfg.late_rate:
            late.append(stream[i])
            stats["late"] += 1
        elif roll < cfg.late_rate + cfg.disorder_rate and i + 1 < len(stream):
            j = min(len(stream) - 1, i + rng.randint(1, 200))
            stream[i], stream[j] = stream[j], stream[i]
            stats["out_of_order"] += 1
    late_ids = {id(e) for e in late}
    stream = [e for e in stream if id(e) not in late_ids] + late
    out: list[Event] = []
    for event in stream:
        out.append(event)
        if rng.random() < cfg.duplicate_rate:
            stats["duplicates"] += 1
            out.insert(rng.randint(max(0, len(out) - 300), len(out)), copy.deepcopy(event))
        if rng.random() < cfg.invalid_rate:
            stats["invalid"] += 1
            out.append(_corrupt(event, rng))
    return out


def _corrupt(event: Event, rng: random.Random) -> Event:
    """A new event (its own id) that ingest must refuse, in one of the ways publishers get it wrong."""
    bad = copy.deepcopy(event)
    bad["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    how = rng.randrange(5)
    if how == 0:
        bad["payload"] = {}
    elif how == 1:
        bad["type"] = "fax.received"
    elif how == 2:
        bad["identities"] = {"phone": "12"}
    elif how == 3:
        bad["occurred_at"] = "yesterday"
    else:
        bad["schema_version"] = 9
    return bad


def normalized_identity(kind: str, value: str, region: str = "US") -> str:
    """Normalize like ingest does (tests compare resolved identities with the truth)."""
    if kind == "email":
        return normalize_email(value)
    if kind == "phone":
        return normalize_phone(value, region)
    if kind == "social":
        return normalize_social(value)
    return value.strip()
