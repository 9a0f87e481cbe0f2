"""How far identities fragment, and how much a customer master and suggested duplicates mend.

Simulates N people (Japanese mobiles) with a customer-master export, writes the export to a
file and reads it back as ``touchline import customers --preset auto`` does (each row one
``customer.profile_updated`` event, its identities one per kind and every other email and
phone it lists linked beside them, as ingest logs them), then resolves the
touchpoints and the master's events with the identity rules (``IdentityResolver`` in memory).
The matcher then runs on the customers this leaves, and the suggestions scoring at least the
threshold are accepted (``services.matching.clusters.accept``). Against the simulation's
truth it prints customers per person (the people in the export, and everyone) before and
after, the false merges, and the matcher's precision and its recall on the people registered
twice.

    .venv/bin/python -m bench.fragmentation [--people 2000] [--seed 1] [--share 0.6]
        [--layout japanese|english] [--threshold 0.85] [--format csv|xlsx]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from events.identities import is_junk
from events.intake import EventIntake, PreparedEvent
from events.timestamps import format_instant
from services.identity.outcomes import Sighting
from services.identity.resolver import IdentityResolver
from services.identity.rules import STRONG_KINDS
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.header import read_table
from services.imports.presets import any_preset_knows, choose_preset
from services.imports.readers import open_rows
from services.imports.rows import EventContext
from services.matching.clusters import Acceptance, accept
from services.matching.matcher import Matching, find_duplicates
from services.matching.records import CustomerRecord, Name, RecordBuilder
from services.matching.scoring import ACCEPT_SCORE, REVIEW_SCORE
from services.simulator.master import LAYOUTS, SECOND_REF_BASE, MasterConfig
from services.simulator.master_files import write_master
from services.simulator.simulation import Simulation, SimulationConfig, simulate

END = datetime(2026, 11, 1, tzinfo=UTC)
TENANT = "bench"
BATCH = 500
STRONG = frozenset(STRONG_KINDS)


def master_events(sim: Simulation, suffix: str) -> list[dict[str, Any]]:
    """The export written to a file and converted as the import command does (no broker)."""
    assert sim.master is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"master.{suffix}"
        write_master(sim.master, path)
        table = read_table(open_rows(path).rows, any_preset_knows)
        choice = choose_preset(table.columns)
        assert choice is not None, table.columns
        region = choice.mapping.options.region or "US"
        context = EventContext(TENANT, f"import:{path.name}", format_instant(END), region)
        converter = CustomerRows(choice.mapping, table.columns, context, today=END.date())
        rows = list(convert_records(table.records, converter, EventIntake(region), TENANT))
    refused = [p for row in rows for p in row.problems]
    assert not refused, refused[:5]
    print(f"master: {len(rows)} rows, {choice.describe()}")
    return [orjson.loads(p.value) for row in rows for p in row.prepared]


def touchpoint_events(sim: Simulation) -> list[dict[str, Any]]:
    results = EventIntake("US").prepare_batch(list(sim.events), TENANT, END)
    return [orjson.loads(r.value) for r in results if isinstance(r, PreparedEvent)]


@dataclass
class Resolved:
    """Every event under its surviving customer."""

    events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def records(self) -> Iterator[CustomerRecord]:
        for customer_id, events in self.events.items():
            builder = RecordBuilder(customer_id)
            for event in events:
                builder.add_identities(event["identities"])
                if event["type"] == "customer.profile_updated":
                    builder.add_profile(event["payload"])
                elif event["type"] == "form.submitted":
                    _form(builder, event["payload"]["fields"])
            yield builder.build()


def _form(builder: RecordBuilder, fields: dict[str, Any]) -> None:
    """What a web form says of the person: a name (with its reading), maybe a postal code."""
    if fields.get("name"):
        builder.add_name(Name.parse(str(fields["name"]), str(fields.get("name_kana") or "")))
    if fields.get("postal_code"):
        builder.add_profile({"address": {"postal_code": fields["postal_code"]}})


def resolve(streams: Iterable[list[dict[str, Any]]]) -> Resolved:
    resolver = IdentityResolver({})
    seen: set[str] = set()
    answers: list[tuple[dict[str, Any], str]] = []
    offset = 0
    for events in streams:
        fresh = [e for e in events if e["event_id"] not in seen]
        seen.update(e["event_id"] for e in fresh)
        for start in range(0, len(fresh), BATCH):
            batch = fresh[start : start + BATCH]
            items = [(offset + i, Sighting.of_logged(e)) for i, e in enumerate(batch)]
            offset += len(batch)
            for event, r in zip(batch, resolver.resolve_batch("touchpoints-0", items), strict=True):
                if r.customer_id is not None:
                    answers.append((event, r.customer_id))
    out = Resolved()
    survivors: dict[str, str] = {}
    for event, customer in answers:
        if customer not in survivors:
            survivors[customer] = str(resolver.survivor(uuid.UUID(customer)))
        out.events[survivors[customer]].append(event)
    return out


@dataclass
class Truth:
    owner: dict[tuple[str, str], str]
    exported: set[str]
    first_refs: dict[str, str]  # person -> the customer number of their first row
    second_refs: dict[str, str]  # person -> the number they registered with again

    @classmethod
    def of(cls, sim: Simulation) -> Truth:
        owner, exported, first, second = {}, set(), {}, {}
        for row in sim.truth():
            if row["kind"] != "master_row":
                if row["person_id"]:
                    owner[(row["kind"], row["value"])] = row["person_id"]
                continue
            exported.add(row["person_id"])
            ref, person = row["customer_ref"], row["person_id"]
            target = second if int(ref.removeprefix("crm-")) >= SECOND_REF_BASE else first
            target[person] = ref
        return cls(owner, exported, first, second)

    def people_of(self, events: list[dict[str, Any]]) -> set[str]:
        return {
            self.owner[(k, v)]
            for e in events
            for k, v in e["identities"].items()
            if (k, v) in self.owner
        }


@dataclass
class Figures:
    label: str
    per_person_export: float
    per_person_all: float
    mixed: int  # customers (or groups) holding more than one person


def fragmentation(label: str, groups: list[set[str]], truth: Truth) -> Figures:
    """``groups``: for each customer (or merged group), the people behind it."""
    per_person = Counter(p for people in groups for p in people)
    export = [n for p, n in per_person.items() if p in truth.exported]
    return Figures(
        label,
        sum(export) / len(export),
        sum(per_person.values()) / len(per_person),
        sum(1 for people in groups if len(people) > 1),
    )


def customer_groups(
    resolved: Resolved, truth: Truth, acceptance: Acceptance | None, identified: bool
) -> list[set[str]]:
    """The people behind each customer, or each merged group; ``identified``: only those
    known by a strong identifier (not an anonymous device or social profile)."""
    people = {c: truth.people_of(events) for c, events in resolved.events.items()}
    known = {c for c, events in resolved.events.items() if _identified(events)}
    merged = acceptance.groups if acceptance else []
    grouped = set().union(*merged) if merged else set()
    groups = [(set(g), set().union(*(people[c] for c in g))) for g in merged]
    groups += [({c}, p) for c, p in people.items() if c not in grouped]
    return [p for members, p in groups if not identified or members & known]


def _identified(events: list[dict[str, Any]]) -> bool:
    return any(
        kind in STRONG and not is_junk(kind, value)
        for e in events
        for kind, value in e["identities"].items()
    )


def duplicate_recall(
    resolved: Resolved, truth: Truth, acceptance: Acceptance
) -> tuple[int, int, int]:
    """(second registrations, of them still apart after linking, of those joined by the matcher)."""
    holder = {
        e["identities"]["customer_ref"]: c
        for c, events in resolved.events.items()
        for e in events
        if "customer_ref" in e["identities"]
    }
    group_of = {c: min(g) for g in acceptance.groups for c in g}
    apart = joined = 0
    for person, ref in truth.second_refs.items():
        second, first = holder.get(ref), holder.get(truth.first_refs.get(person, ""))
        if second is None or first is None or second == first:
            continue
        apart += 1
        joined += group_of.get(second, second) == group_of.get(first, first)
    return len(truth.second_refs), apart, joined


def precision(resolved: Resolved, truth: Truth, acceptance: Acceptance) -> tuple[int, int]:
    people = {c: truth.people_of(events) for c, events in resolved.events.items()}
    right = sum(
        1 for s in acceptance.accepted if people[s.a] == people[s.b] and len(people[s.a]) == 1
    )
    return right, len(acceptance.accepted)


def run_pass(label: str, resolved: Resolved, truth: Truth, threshold: float) -> None:
    started = time.perf_counter()
    matching: Matching = find_duplicates(resolved.records())
    elapsed = time.perf_counter() - started
    print(f"\n== {label}: {len(resolved.events)} customers")
    print(
        f"matcher: {matching.records} records, {matching.pairs_compared} pairs compared, "
        f"{len(matching.suggestions)} suggestions, {matching.skipped_blocks} blocks skipped, "
        f"{elapsed:.2f} s"
    )
    for which in ("all", "identified"):
        linked = fragmentation(
            "", customer_groups(resolved, truth, None, which == "identified"), truth
        )
        print(
            f"customers per person ({which}) after linking: {linked.per_person_export:.3f} in "
            f"the export, {linked.per_person_all:.3f} overall; holding two people: {linked.mixed}"
        )
    print(
        "accepting  | accepted contested | per person in export (all / identified) | overall "
        "(all / identified) | false merges | precision | recall on registered twice"
    )
    for at in sorted({REVIEW_SCORE, 0.7, threshold, 0.95}):
        _accepted_at(at, matching, resolved, truth, marked=at == threshold)
    accepted = accept(matching, threshold).accepted
    rules = Counter(r for s in accepted for r in s.rules)
    print(
        f"accepted at {threshold} by rule: " + ", ".join(f"{r} {n}" for r, n in rules.most_common())
    )


def _accepted_at(
    at: float, matching: Matching, resolved: Resolved, truth: Truth, marked: bool
) -> None:
    acceptance = accept(matching, at)
    every, known = (
        fragmentation("", customer_groups(resolved, truth, acceptance, which), truth)
        for which in (False, True)
    )
    right, accepted = precision(resolved, truth, acceptance)
    seconds, apart, joined = duplicate_recall(resolved, truth, acceptance)
    print(
        f"{'>=' if not marked else '*>'} {at:<7} | {accepted:>8} {len(acceptance.contested):>9} | "
        f"{every.per_person_export:>6.3f} / {known.per_person_export:.3f} {'':>20} | "
        f"{every.per_person_all:.3f} / {known.per_person_all:.3f} {'':>5} | {known.mixed:>12} | "
        f"{right / max(1, accepted):>9.3f} | {joined}/{apart} = {joined / max(1, apart):.3f} "
        f"({seconds - apart} linked already)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--share", type=float, default=0.6)
    parser.add_argument("--layout", choices=LAYOUTS, default="japanese")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--threshold", type=float, default=ACCEPT_SCORE)
    args = parser.parse_args()
    config = SimulationConfig(
        customers=args.people,
        seed=args.seed,
        tenant=TENANT,
        region="JP",
        master=MasterConfig(args.share, args.layout),
    )
    sim = simulate(config, END)
    truth = Truth.of(sim)
    touchpoints, profiles = touchpoint_events(sim), master_events(sim, args.format)
    print(
        f"simulated {args.people} people, {len(touchpoints)} touchpoints, "
        f"{len(truth.exported)} people in the export ({args.layout})"
    )
    only = resolve([touchpoints])
    print(
        f"touchpoints alone: {len(only.events)} customers "
        f"({len(only.events) / args.people:.3f} per person)"
    )
    run_pass(
        "touchpoints + master (its identities and every listed email and phone linked)",
        resolve([touchpoints, profiles]),
        truth,
        args.threshold,
    )


if __name__ == "__main__":
    main()
