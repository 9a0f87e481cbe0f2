"""The simulator's people in Japanese and English, its customer-master export, and its truth."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from events.intake import EventIntake, PreparedEvent
from services.entrypoints.cli import main
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.header import read_table
from services.imports.presets import any_preset_knows, choose_preset
from services.imports.readers import open_rows
from services.imports.rows import EventContext
from services.simulator.master import SECOND_REF_BASE, MasterConfig
from services.simulator.master_files import MasterFileError, write_master
from services.simulator.simulation import (
    Simulation,
    SimulationConfig,
    normalized_identity,
    simulate,
)

END = datetime(2026, 11, 1, tzinfo=UTC)


def jp_sim(people: int = 400, seed: int = 3, layout: str = "japanese") -> Simulation:
    master = MasterConfig(layout=layout)  # type: ignore[arg-type]
    return simulate(SimulationConfig(customers=people, seed=seed, region="JP", master=master), END)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return jp_sim()


def valid_ids(sim: Simulation) -> set[str]:
    results = EventIntake("US").prepare_batch(list(sim.events), sim.config.tenant, END)
    return {r.event_id for r in results if isinstance(r, PreparedEvent)}


def test_the_master_adds_sign_ups_and_changes_nothing_people_did(sim: Simulation) -> None:
    plain = simulate(SimulationConfig(customers=400, seed=3, region="JP"), END)
    with_master, without = valid_ids(sim), valid_ids(plain)
    assert without <= with_master
    added = [e for e in sim.events if e["event_id"] in with_master - without]
    assert added and all(e["payload"]["form_id"] == "register" for e in added)
    assert sim.master is not None and len(added) == len(sim.master.web_registrations)


def test_profiles_are_deterministic_and_in_both_scripts(sim: Simulation) -> None:
    again = jp_sim()
    assert [p.profile for p in sim.people] == [p.profile for p in again.people]
    for person in sim.people:
        profile = person.profile
        assert profile is not None
        assert (profile.family_en, profile.given_en) == (person.family_name, person.given_name)
        assert all(unicodedata.name(c).startswith("KATAKANA") for c in profile.family_kana)
    households = Counter(p.profile.address for p in sim.people if p.profile)
    assert any(n > 1 for n in households.values())  # some people live together


def test_japanese_numbers_reach_ingest_and_forms_carry_the_japanese_name(sim: Simulation) -> None:
    assert all(p.phone.startswith("+81") for p in sim.people)
    owners = {(t["kind"], t["value"]) for t in sim.truth()}
    forms = [e for e in sim.events if e["type"] == "form.submitted"]
    for event in forms[:200]:
        for kind, value in event["identities"].items():
            try:
                assert (kind, normalized_identity(kind, value)) in owners
            except ValueError:
                continue  # one of the injected invalid events
    names = {e["payload"]["fields"].get("name") for e in forms}
    assert {p.profile.name for p in sim.people if p.profile} & names


def convert(path: Path) -> tuple[str, list[dict[str, object]]]:
    table = read_table(open_rows(path).rows, any_preset_knows)
    choice = choose_preset(table.columns)
    assert choice is not None
    region = choice.mapping.options.region or "US"
    context = EventContext("demo", "import:test", "2026-11-01T00:00:00Z", region)
    converter = CustomerRows(choice.mapping, table.columns, context, today=END.date())
    rows = list(convert_records(table.records, converter, EventIntake(region), "demo"))
    assert [p for row in rows for p in row.problems] == []
    return choice.mapping.name, [orjson.loads(p.value) for row in rows for p in row.prepared]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("layout", ["japanese", "english"])
def test_every_row_imports_with_the_auto_preset_and_reads_back_its_truth(
    tmp_path: Path, layout: str, suffix: str
) -> None:
    sim = jp_sim(people=300, seed=11, layout=layout)
    assert sim.master is not None
    path = tmp_path / f"master{suffix}"
    write_master(sim.master, path)
    preset, events = convert(path)
    assert preset == layout
    by_ref = {row.customer_ref: row for row in sim.master.rows}
    assert len({e["event_id"] for e in events}) == len(by_ref)  # a row exported twice: one id
    for event in events:
        ids, payload = event["identities"], event["payload"]
        row = by_ref[ids["customer_ref"]]  # type: ignore[index]
        carried = set(row.identities)
        assert {(k, v) for k, v in ids.items()} <= carried  # type: ignore[union-attr]
        listed = {("email", e) for e in payload.get("emails", [])}  # type: ignore[union-attr]
        listed |= {("phone", p) for p in payload.get("phones", [])}  # type: ignore[union-attr]
        assert listed == {(k, v) for k, v in carried if k in ("email", "phone")}
        address = payload["address"]  # type: ignore[index]
        person = next(p for p in sim.people if p.person_id == row.person_id)
        assert person.profile and address["postal_code"] == person.profile.address.postal_code


def test_the_truth_names_the_person_of_every_row_and_identifier(sim: Simulation) -> None:
    assert sim.master is not None
    truth = list(sim.truth())
    owners: dict[tuple[str, str], set[object]] = {}
    for t in truth:
        if t["kind"] != "master_row":
            owners.setdefault((t["kind"], t["value"]), set()).add(t["person_id"])
    assert all(len(people) == 1 for people in owners.values())
    rows = [t for t in truth if t["kind"] == "master_row"]
    assert [t["value"] for t in rows] == [str(n) for n in range(2, len(sim.master.rows) + 2)]
    for t, row in zip(rows, sim.master.rows, strict=True):
        assert t["person_id"] == row.person_id and t["customer_ref"] == row.customer_ref
        assert all(owners[i] == {row.person_id} for i in row.identities)


def test_the_export_is_dirty_in_the_ways_real_ones_are() -> None:
    sim = jp_sim(people=2000, seed=5)
    assert sim.master is not None
    rows = sim.master.rows
    kinds = Counter(r.duplicate for r in rows)
    assert kinds["copy"] > 0 and kinds["second_registration"] > 0
    people = {p.person_id: p for p in sim.people}
    seconds = [r for r in rows if r.duplicate == "second_registration"]
    for row in seconds:
        email = dict(row.identities).get("email")
        assert int(row.customer_ref[4:]) >= SECOND_REF_BASE
        assert email and email != people[row.person_id].email  # registered with a typo
    cells = [c for r in rows for c in r.cells.values()]
    phones = [r.cells.get("電話番号", "") + r.cells.get("携帯電話番号", "") for r in rows]
    assert any("０" in p for p in phones) and any(p.startswith("+81") for p in phones)
    assert any(p.startswith("0") and "-" in p for p in phones) and any(p.isdigit() for p in phones)
    assert any(c.startswith("〒") for c in cells) and any("丁目" in c for c in cells)
    assert any("\u3000" in r.cells.get("姓", "") for r in rows)  # a full-width space
    assert any(unicodedata.name(r.cells.get("セイ", "ア")[0]).startswith("HALFWIDTH") for r in rows)
    assert any(c.startswith("昭和") for c in cells)
    assert "ポイントカード番号" in sim.master.columns


def test_simulate_writes_the_master_and_its_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master, truth, out = tmp_path / "crm.xlsx", tmp_path / "truth.ndjson", tmp_path / "e.ndjson"
    code = main(["simulate", "--customers", "50", "--region", "JP", "--master", str(master),
                 "--master-share", "0.5", "--master-layout", "english", "--truth", str(truth),
                 "--out", str(out), "--end", "2026-11-01T00:00:00Z"])  # fmt: skip
    assert code == 0
    preset, events = convert(master)
    assert preset == "english" and len(events) >= 25
    lines = [orjson.loads(line) for line in truth.read_bytes().splitlines()]
    assert sum(1 for t in lines if t["kind"] == "master_row") > 25
    assert "customer-master rows in" in capsys.readouterr().err


def test_a_master_file_must_be_csv_or_xlsx(tmp_path: Path) -> None:
    code = main(["simulate", "--customers", "5", "--master", str(tmp_path / "crm.json"),
                 "--out", str(tmp_path / "e.ndjson")])  # fmt: skip
    assert code == 2
    sim = jp_sim(people=20)
    assert sim.master is not None
    with pytest.raises(MasterFileError, match=r"expected a name ending in \.csv or \.xlsx"):
        write_master(sim.master, tmp_path / "crm.ods")
