"""Every worked query in ``docs/analytics.md`` runs on chDB and gives the right answer.

A simulated tenant goes through the stages in one process (``Pipeline`` from
the row-mapping tests: intake, identity resolution, engagement), its records
become rows with ``projections.rows`` and are inserted into a chDB store with
the real migrations. Each documented query then runs through
``run_analyst_query``, as an analyst's would, and its rows are compared with an
answer computed here in plain Python from the stages' own output (the
resolved bodies, the customer profiles, the published scores), never from
SQL. So a query that forgets a merge, double-counts a repeated event or reads
a stale score version disagrees with the oracle and fails.

The data is built to make inexact reads visible. Background merges are
stopped, so every row version stays in its own part: the identity stage's
repeats of an event (and a redelivery of every purchase) sit beside the first
copies, as if the projector's dedup stage had missed them; customers are
scored several times, and their scores are inserted so that neither the first
nor the last part holds the newest; simulated merges leave events under alias
ids, and a crafted chain (B into A, then A into C) re-points an alias. A copy
of every table under another tenant would double any count that escaped the
tenant filter.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

import services.engagement.stage as engagement_stage
from events.topics import CUSTOMERS, RESOLVED, SCORES
from projections.analyst import run_analyst_query
from projections.analytics import QueryDocError, bind, documented_queries
from projections.migrations import apply_migrations
from projections.rows import (
    SourceRecord,
    customer_rows,
    event_key,
    score_rows,
    touchpoint_rows,
)
from projections.store import ProjectionStore, open_projection_store, rows_of
from services.simulator.simulation import SimulationConfig, simulate
from tests.unit.test_projection_rows import NOW, Pipeline, T, envelope, visit

END = NOW  # the simulated history ends here, and ingest received it all then
SCORED_AT = END + timedelta(days=20)  # scores computed later, so recency and churn vary
OTHER = "other-shop"
CHAIN_EMAIL, CHAIN_PHONE, CHAIN_REF = "chain-a@example.org", "+14155552671", "crm-chain-1"
SEND_BATCH = 600  # events per pass through the stages (a worker sees traffic in batches)
OUTBOUND = {"email.sent", "email.delivered", "email.bounced", "chat.message_sent", "social.dm_sent"}
Row = tuple[Any, ...]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    """80 simulated people through the stages, scored at ``SCORED_AT``.

    The engagement stage stamps scores with the wall clock; a clock that starts
    at ``SCORED_AT`` and advances 1 ms per call keeps the run reproducible and
    gives each batch's scores a distinct ``as_of`` (the rfm version column).
    """
    ticks = itertools.count()
    clock = SimpleNamespace(time=lambda: SCORED_AT.timestamp() + next(ticks) / 1000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engagement_stage, "time", clock)
        p = Pipeline()
        events = simulate(SimulationConfig(customers=80, seed=3, tenant=T), END).events
        for start in range(0, len(events), SEND_BATCH):  # so customers are scored, then merged
            p.send(events[start : start + SEND_BATCH])
        _merge_chain(p)
    return p


def _merge_chain(p: Pipeline) -> None:
    """B is merged into A, then A into C (seen earliest): B's alias row is re-pointed to C.

    The simulation's merges are one step each; this chain is what makes
    ``argMax(survivor_id, version)`` differ from any other survivor an alias had.
    """
    p.send([visit("2026-02-10T10:00:00Z", email=CHAIN_EMAIL),
            visit("2026-02-11T10:00:00Z", phone=CHAIN_PHONE)])  # fmt: skip
    p.send([envelope("purchase.completed", "2026-02-12T10:00:00Z",
                     {"email": CHAIN_EMAIL, "phone": CHAIN_PHONE}, order_id="chain-1",
                     total=12800, currency="JPY", store_id="shibuya")])  # fmt: skip
    p.send([visit("2026-02-01T10:00:00Z", customer_ref=CHAIN_REF)])
    p.send([visit("2026-02-13T10:00:00Z", customer_ref=CHAIN_REF, email=CHAIN_EMAIL)])


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, pipeline: Pipeline
) -> Iterator[ProjectionStore]:
    store = open_projection_store(f"chdb://{tmp_path_factory.mktemp('analytics-chdb')}")
    apply_migrations(store)
    store.command("SYSTEM STOP MERGES")  # every version and repeat stays visible to the queries
    for tenant in (T, OTHER):
        for name, table in _tables(pipeline):
            store.insert_arrow(name, _as_tenant(table, tenant))
    yield store
    store.close()


def _tables(pipeline: Pipeline) -> Iterator[tuple[str, pa.Table]]:
    """Rows for every table, in blocks that leave several versions of a key in separate parts.

    A ReplacingMergeTree folds versions of one key within an insert block, so
    one block per table would hide a query that reads versions wrongly.
    Touchpoints: first copies, then the identity stage's repeats. Customers:
    chunks of the log, newest first. Scores: each customer's newest score in
    the first block, its previous one in the next, and so on.
    """
    first: list[SourceRecord] = []
    repeats: list[SourceRecord] = []
    seen: set[tuple[str, str] | None] = set()
    for record in pipeline.records(RESOLVED):
        key = event_key(record)
        (repeats if key in seen else first).append(record)
        seen.add(key)
    assert touchpoint_rows(repeats).num_rows > 10  # the simulator sends some events twice
    repeats += [r for r in first if b'"type":"purchase.' in r.value]  # and a redelivery of money
    yield "touchpoints", touchpoint_rows(first)
    yield "touchpoints", touchpoint_rows(repeats)
    for chunk in reversed(_customer_chunks(pipeline.records(CUSTOMERS))):
        yield from customer_rows(chunk).items()
    # Half the customers newest score first, half oldest first: then neither the first nor
    # the last part a reader happens to see holds everyone's newest score.
    by_age: dict[tuple[int, int], list[SourceRecord]] = defaultdict(list)
    scores_of: Counter[bytes] = Counter()
    for record in reversed(pipeline.records(SCORES)):
        customer = record.key or b""
        by_age[(customer[-1] % 2, scores_of[customer])].append(record)
        scores_of[customer] += 1
    assert max(scores_of.values()) > 1  # some customers were scored more than once
    for half, age in sorted(by_age, key=lambda k: (k[0], k[1] if k[0] else -k[1])):
        yield from score_rows(by_age[(half, age)]).items()


def _customer_chunks(records: list[SourceRecord]) -> list[list[SourceRecord]]:
    """Log order, cut before each merge that re-points older aliases: so both versions stay."""
    chunks: list[list[SourceRecord]] = [[]]
    for record in records:
        if b'"absorbed_aliases":["' in record.value:
            chunks.append([])
        chunks[-1].append(record)
    assert len(chunks) > 1, "the chain's second merge re-points B"
    return chunks


def _as_tenant(table: pa.Table, tenant: str) -> pa.Table:
    column = table.schema.get_field_index("tenant")
    return table.set_column(column, "tenant", pa.array([tenant] * table.num_rows, pa.string()))


# -- the oracle: the same facts, from the stages' output, in plain Python ---------------


@dataclass
class World:
    """What the stages published, reduced to what the queries ask about."""

    events: list[dict[str, Any]]  # one body per event_id, the first the identity stage emitted
    survivor: dict[str, str]  # every customer id -> the person it now belongs to
    scores: dict[str, dict[str, Any]]  # customer -> its last published score
    by_person: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def person(self, event: dict[str, Any]) -> str:
        customer = str(event["customer_id"])
        return self.survivor.get(customer, customer)

    def current(self) -> dict[str, dict[str, Any]]:
        """Latest score of each customer not merged away (there is no erasure here)."""
        return {c: s for c, s in self.scores.items() if self.survivor.get(c, c) == c}


@pytest.fixture(scope="module")
def world(pipeline: Pipeline) -> World:
    events: dict[str, dict[str, Any]] = {}
    for body in pipeline.bodies(RESOLVED):
        if "control" not in body:
            events.setdefault(body["event_id"], body)
    profiles = {b["customer_id"]: b["profile"] for b in pipeline.bodies(CUSTOMERS)}
    world = World(
        events=list(events.values()),
        survivor={c: _follow(c, profiles) for c in profiles},
        scores={b["customer_id"]: b for b in pipeline.bodies(SCORES)},
    )
    for event in world.events:
        world.by_person.setdefault(world.person(event), []).append(event)
    assert any(c != s for c, s in world.survivor.items())  # merges happened
    return world


def _follow(customer: str, profiles: dict[str, dict[str, Any]]) -> str:
    """The end of the ``merged_into`` chain from the latest profiles (not the alias table)."""
    while merged_into := profiles[customer].get("merged_into"):
        customer = str(merged_into)
    return customer


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def _window(world: World) -> list[dict[str, Any]]:
    return [e for e in world.events if END - timedelta(days=30) < _at(e) <= END]


def _amount(event: dict[str, Any]) -> Decimal:
    return Decimal(event["payload"]["amount"])


def expect_channel_mix(world: World) -> list[Row]:
    events = Counter(e["channel"] for e in _window(world))
    people: dict[str, set[str]] = defaultdict(set)
    for e in _window(world):
        people[e["channel"]].add(world.person(e))
    total = sum(events.values())
    rows = [(ch, n, len(people[ch]), n / total) for ch, n in events.items()]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def expect_email_funnel(world: World) -> list[Row]:
    steps: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    first_day: dict[str, date] = {}
    names: dict[str, str] = {}
    for e in world.events:
        campaign = e["payload"].get("campaign_id", "") if e["channel"] == "email" else ""
        if campaign:
            steps[campaign][e["type"]].add(e["payload"]["message_id"])
            first_day[campaign] = min(first_day.get(campaign, date.max), _at(e).date())
            names[campaign] = e["payload"]["campaign_name"]
    rows = []
    for campaign, by_type in steps.items():
        s, d, o, c = (
            len(by_type[f"email.{t}"]) for t in ("sent", "delivered", "opened", "clicked")
        )
        rates = (d / s if s else 0, o / d if d else 0, c / d if d else 0, c / o if o else 0)
        rows.append((campaign, names[campaign], first_day[campaign], s, d, o, c, *rates))
    return sorted(rows, key=lambda r: (r[2], r[0]))


def expect_rfm_segments(world: World) -> list[Row]:
    segments: Counter[str] = Counter()
    money: dict[str, Decimal] = defaultdict(Decimal)
    for score in world.current().values():
        segments[score["rfm"]["segment"]] += 1
        money[score["rfm"]["segment"]] += Decimal(score["rfm"]["monetary"])
    total = sum(segments.values())
    rows = [(s, n, n / total, money[s]) for s, n in segments.items()]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def expect_rfm_grid(world: World) -> list[Row]:
    cells: Counter[tuple[int, int, str]] = Counter()
    money: dict[tuple[int, int, str], Decimal] = defaultdict(Decimal)
    for score in world.current().values():
        rfm = score["rfm"]
        recency, frequency = rfm["recency_days"], rfm["frequency"]
        r = 4 if recency is None else 1 if recency <= 30 else 2 if recency <= 90 else 3
        f = 1 if frequency >= 5 else 2 if frequency >= 2 else 3 if frequency == 1 else 4
        cells[(r, f, rfm["segment"])] += 1
        money[(r, f, rfm["segment"])] += Decimal(rfm["monetary"])
    recency_bands, frequency_bands = ["0-30", "31-90", "91-365", "none"], ["5+", "2-4", "1", "0"]
    return [(recency_bands[r - 1], frequency_bands[f - 1], segment, n, money[(r, f, segment)])
            for (r, f, segment), n in sorted(cells.items())]  # fmt: skip


def _net(events: list[dict[str, Any]]) -> Decimal:
    """Purchases minus refunds."""
    signs = {"purchase.completed": 1, "purchase.refunded": -1}
    return sum((signs[e["type"]] * _amount(e) for e in events if e["type"] in signs), Decimal())


def expect_revenue_deciles(world: World) -> list[Row]:
    buyers = sorted(((_net(events), person) for person, events in world.by_person.items()
                     if any(e["type"] == "purchase.completed" for e in events)),
                    key=lambda b: (-b[0], b[1]))  # fmt: skip
    assert len(buyers) >= 20, "the simulation should give a few buyers per decile"
    size, larger = divmod(len(buyers), 10)  # ntile: the first `larger` groups one bigger
    deciles, rank = [], 0
    for decile in range(1, 11):
        take = size + (decile <= larger)
        deciles.append((decile, [net for net, _ in buyers[rank : rank + take]]))
        rank += take
    total = sum((net for net, _ in buyers), Decimal())
    rows, running = [], Decimal()
    for decile, nets in deciles:
        revenue = sum(nets, Decimal())
        running += revenue
        rows.append((decile, len(nets), revenue, min(nets), max(nets),
                     float(revenue) / float(total), float(running) / float(total)))  # fmt: skip
    return rows


CONTACT_CHANNELS = ("phone", "email", "sms", "chat", "social", "store", "web")


def expect_churn_risk(world: World) -> list[Row]:
    rows = []
    for customer, score in world.current().items():
        rfm = score["rfm"]
        if rfm["churn_risk"] != "high":
            continue
        events = world.by_person[customer]
        purchases = [e for e in events if e["type"] == "purchase.completed"]
        last = max(purchases, key=lambda e: (_at(e), e["event_id"]))
        pay = last["payload"]
        contacts = [max((_at(e) for e in events if e["channel"] == ch), default=None)
                    for ch in CONTACT_CHANNELS]  # fmt: skip
        rows.append((uuid.UUID(customer), Decimal(rfm["monetary"]), rfm["frequency"],
                     rfm["recency_days"], _at(last), pay["order_id"], pay["amount"],
                     pay["currency"], *contacts))  # fmt: skip
    assert len(rows) >= 3, "the simulation should give several high-risk customers"
    assert all(any(r[8:]) and not all(r[8:]) for r in rows)  # some channels used, some not
    return sorted(rows, key=lambda r: (-r[1], str(r[0])))


def expect_ltv_by_acquisition_channel(world: World) -> list[Row]:
    customers: Counter[str] = Counter()
    buyers: Counter[str] = Counter()
    mature: Counter[str] = Counter()
    net: dict[str, Decimal] = defaultdict(Decimal)
    net_30d: dict[str, Decimal] = defaultdict(Decimal)
    for all_events in world.by_person.values():
        events = [e for e in all_events if _at(e) <= END]
        own = [e for e in events if e["type"] not in OUTBOUND]
        if not own:
            continue  # only ever written to: not acquired
        first = min(own, key=lambda e: (_at(e), e["event_id"]))
        channel, acquired_at = first["channel"], _at(first)
        customers[channel] += 1
        buyers[channel] += any(e["type"] == "purchase.completed" for e in events)
        net[channel] += _net(events)
        if acquired_at <= END - timedelta(days=30):
            mature[channel] += 1
            horizon = acquired_at + timedelta(days=30)
            net_30d[channel] += _net([e for e in events if _at(e) < horizon])
    assert 0 < sum(mature.values()) < sum(customers.values())  # the horizon leaves some out
    rows = [(ch, n, buyers[ch], net[ch], round(float(net[ch]) / n, 2), mature[ch],
             round(float(net_30d[ch]) / mature[ch], 2) if mature[ch] else 0.0)
            for ch, n in customers.items()]  # fmt: skip
    return sorted(rows, key=lambda r: (-r[3], r[0]))


def expect_ctb_product_month(world: World) -> list[Row]:
    lines = []  # (month, sku, name, person, order, quantity, revenue, (at, event_id))
    for e in world.events:
        if e["type"] == "purchase.completed":
            month = _at(e).astimezone(UTC).date().replace(day=1)
            for item in e["payload"]["items"]:
                lines.append((month, item["sku"], item["name"], world.person(e), e["event_id"],
                              item["quantity"], Decimal(item["unit_price"]) * item["quantity"],
                              (_at(e), e["event_id"])))  # fmt: skip
    first: dict[tuple[str, str], date] = {}
    for month, sku, _, person, *_ in lines:
        first[(person, sku)] = min(first.get((person, sku), date.max), month)
    cells: dict[tuple[date, str], list[Any]] = defaultdict(list)
    for line in lines:
        cells[(line[0], line[1])].append(line)
    rows = []
    for (month, sku), group in sorted(cells.items()):
        people = {line[3] for line in group}
        new = {p for p in people if first[(p, sku)] == month}
        name = max(group, key=lambda line: line[7])[2]
        rows.append((month, sku, name, len(people), len(new), len(people) - len(new),
                     len({line[4] for line in group}), sum(line[5] for line in group),
                     sum((line[6] for line in group), Decimal())))  # fmt: skip
    assert any(r[5] for r in rows), "some buyers come back for a product"
    return rows


def expect_channel_mix_weekly(world: World) -> list[Row]:
    weeks: Counter[tuple[date, str]] = Counter()
    for e in world.events:
        day = _at(e).astimezone(UTC).date()
        weeks[(day - timedelta(days=day.weekday()), e["channel"])] += 1
    return [(week, channel, n) for (week, channel), n in sorted(weeks.items())]


def expect_weekly_cohort_retention(world: World) -> list[Row]:
    weeks: dict[str, set[date]] = defaultdict(set)
    for e in world.events:
        if e["type"] not in OUTBOUND:
            day = _at(e).astimezone(UTC).date()
            weeks[world.person(e)].add(day - timedelta(days=day.weekday()))
    cohort_of = {person: min(active) for person, active in weeks.items()}
    sizes = Counter(cohort_of.values())
    active: Counter[tuple[date, int]] = Counter()
    for person, active_weeks in weeks.items():
        for week in active_weeks:
            active[(cohort_of[person], (week - cohort_of[person]).days // 7)] += 1
    return [(cohort, n, sizes[cohort], count, count / sizes[cohort])
            for (cohort, n), count in sorted(active.items())]  # fmt: skip


def expect_multichannel_customers(world: World) -> list[Row]:
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in _window(world):
        by_person[world.person(e)].append(e)
    rows = []
    for person, events in by_person.items():
        channels = sorted({e["channel"] for e in events})
        if len(channels) >= 3:
            last = max(map(_at, events))
            rows.append((uuid.UUID(person), len(channels), channels, len(events), last))
    assert len(rows) >= 3, "the simulation should give several multichannel customers"
    return sorted(rows, key=lambda r: (-r[1], -r[3], str(r[0])))


EXPECTED: dict[str, Callable[[World], list[Row]]] = {
    "channel_mix": expect_channel_mix,
    "email_funnel": expect_email_funnel,
    "rfm_segments": expect_rfm_segments,
    "rfm_grid": expect_rfm_grid,
    "revenue_deciles": expect_revenue_deciles,
    "churn_risk": expect_churn_risk,
    "ltv_by_acquisition_channel": expect_ltv_by_acquisition_channel,
    "ctb_product_month": expect_ctb_product_month,
    "channel_mix_weekly": expect_channel_mix_weekly,
    "weekly_cohort_retention": expect_weekly_cohort_retention,
    "multichannel_customers": expect_multichannel_customers,
}
WINDOWED = {
    "channel_mix",
    "multichannel_customers",
    "ltv_by_acquisition_channel",
}  # `bind` refuses as_of for any other query
# needs a customer to look at: test_customer_timeline_reads_through_merges
CHECKED_APART = {"customer_timeline"}


# -- the tests -----------------------------------------------------------------------------


def run(
    store: ProjectionStore,
    name: str,
    tenant: str = T,
    as_of: datetime | None = None,
    customer: uuid.UUID | None = None,
) -> list[Row]:
    """The documented query ``name``, bound to these values, as ``tenant``'s analyst runs it."""
    sql = bind(documented_queries()[name], as_of=as_of, customer=customer)
    return rows_of(run_analyst_query(store, tenant, sql))


def assert_rows(actual: list[Row], expected: list[Row]) -> None:
    """Equal row by row; floats to the 4 decimals the queries round rates to."""
    assert len(actual) == len(expected), (actual, expected)
    for got, want in zip(actual, expected, strict=True):
        assert len(got) == len(want), (got, want)
        for a, w in zip(got, want, strict=True):
            if isinstance(w, float):
                assert a == pytest.approx(w, abs=6e-5), (got, want)
            else:
                assert a == w, (got, want)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_documented_query_matches_the_oracle(
    store: ProjectionStore, world: World, name: str
) -> None:
    expected = EXPECTED[name](world)
    assert expected, f"{name}: the simulation gives nothing to check"
    assert_rows(run(store, name, as_of=END if name in WINDOWED else None), expected)


def test_customer_timeline_reads_through_merges(store: ProjectionStore, world: World) -> None:
    """The chain's survivor: its events under all three ids, newest first, each once."""
    person = next(world.person(e) for e in world.events
                  if e["identities"].get("customer_ref") == CHAIN_REF)  # fmt: skip
    ids = {c for c, s in world.survivor.items() if s == person}
    events = sorted(world.by_person[person], key=lambda e: (_at(e), e["event_id"]), reverse=True)
    assert len(ids) == 3 and {e["customer_id"] for e in events} == ids
    rows = run(store, "customer_timeline", customer=uuid.UUID(person))
    assert [(r[0], r[2], str(r[5])) for r in rows] == [
        (_at(e), e["type"], e["event_id"]) for e in events[:50]
    ]
    assert {str(r[4]) for r in rows} == ids


def test_every_documented_query_is_checked() -> None:
    """A query added to the page without an oracle here fails, and so does a stale oracle."""
    assert set(documented_queries()) == set(EXPECTED) | CHECKED_APART


def test_the_page_refuses_a_marker_without_its_query(tmp_path: Path) -> None:
    """A marker whose block is missing (or reused) would silently drop a query from the tests."""
    doc = tmp_path / "analytics.md"
    doc.write_text("<!-- query: a -->\n```sql\nSELECT 1\n```\n<!-- query: b -->\ntext\n")
    with pytest.raises(QueryDocError, match="2 query markers but 1"):
        documented_queries(doc)
    doc.write_text("<!-- query: a -->\n```sql\nSELECT 1\n```\n" * 2)
    with pytest.raises(QueryDocError, match="documented twice"):
        documented_queries(doc)


def test_bind_refuses_a_query_without_the_binding() -> None:
    """A window that no longer follows as_of must not quietly run over now()."""
    with pytest.raises(ValueError, match="does not bind"):
        bind(documented_queries()["email_funnel"], as_of=END)
    with pytest.raises(ValueError, match="timezone-aware"):
        bind(documented_queries()["channel_mix"], as_of=datetime(2026, 3, 1))
    assert "toDateTime64('2026-03-01 00:00:00.000', 3, 'UTC') AS as_of" in bind(
        documented_queries()["channel_mix"], as_of=END
    )


def test_queries_see_only_their_tenant(store: ProjectionStore) -> None:
    """The other tenant holds a copy of the same rows: each tenant sees its own once."""
    mine, theirs = run(store, "channel_mix", as_of=END), run(store, "channel_mix", OTHER, as_of=END)
    assert mine == theirs and mine
    assert run(store, "channel_mix", "nobody", as_of=END) == []
