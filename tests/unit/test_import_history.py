"""History rows to touchpoints: the mapping checked against the catalog, cells typed by the schema."""

from __future__ import annotations

from functools import cache

import pytest

from events.catalog import load_catalog
from events.intake import EventIntake
from services.imports.conversion import convert_records
from services.imports.errors import MappingError
from services.imports.header import Record
from services.imports.history import HistoryRows, history_mapping, typed_value
from services.imports.rows import EventContext

CONTEXT = EventContext("acme", "import:visits.csv", "2024-05-01T00:00:00.000Z", "JP")
VISITS = {"type": "store.visited", "occurred_at": "来店日時", "timezone": "Asia/Tokyo",
          "identities": {"会員番号": "customer_ref", "電話": "phone"},
          "payload": {"店舗": "store_id", "滞在秒": "duration_s"}}  # fmt: skip
COLUMNS = ["会員番号", "電話", "来店日時", "店舗", "滞在秒"]


@cache
def intake() -> EventIntake:
    return EventIntake("JP")


def rows(*records: dict[str, str]) -> list:  # type: ignore[type-arg]
    converter = HistoryRows(
        history_mapping(VISITS, "visits.toml", load_catalog()), COLUMNS, CONTEXT
    )
    found = [Record(i + 2, r) for i, r in enumerate(records)]
    return list(convert_records(found, converter, intake(), "acme"))


def test_a_visit_row_becomes_a_store_visited_touchpoint() -> None:
    [row] = rows({"会員番号": "A1", "電話": "０９０-1234-5678", "来店日時": "2024/05/01 10:00", "店舗": "渋谷店", "滞在秒": "１,２００"})  # fmt: skip
    assert row.problems == []
    [event] = row.events
    assert event["type"] == "store.visited" and event["occurred_at"] == "2024-05-01T01:00:00.000Z"
    assert event["payload"] == {"store_id": "渋谷店", "duration_s": 1200}
    assert row.prepared[0].key == b"acme|customer_ref:A1"


def test_bad_cells_and_missing_time_refuse_the_row() -> None:
    bad, no_time, blank = rows(
        {"会員番号": "A1", "来店日時": "someday", "店舗": "x", "滞在秒": "long"},
        {"会員番号": "A1", "店舗": "x"},
        {},
    )
    assert sorted(p.column for p in bad.problems) == ["来店日時", "滞在秒"]
    assert no_time.problems[0].problem.startswith("no event time")
    assert blank.blank


def test_schema_limits_are_named_by_column() -> None:
    [row] = rows({"会員番号": "A1", "来店日時": "2024/05/01 10:00", "店舗": "x", "滞在秒": "-5"})
    assert [p.column for p in row.problems] == ["滞在秒"]


@pytest.mark.parametrize(
    ("change", "message"),
    [({"type": "fax.received"}, "not a catalogued"), ({"payload": {"店舗": "shop"}}, "no field 'shop'"),
     ({"identities": {"会員番号": "member"}}, "not one of"), ({"occurred_at": None}, "occurred_at")],
)  # fmt: skip
def test_mapping_errors(change: dict[str, object], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        history_mapping({**VISITS, **change}, "visits.toml", load_catalog())


def test_a_mapped_column_missing_from_the_file_is_refused() -> None:
    mapping = history_mapping(VISITS, "visits.toml", load_catalog())
    with pytest.raises(MappingError, match="not in the file"):
        HistoryRows(mapping, ["会員番号", "来店日時"], CONTEXT)


def test_typed_values() -> None:
    assert typed_value("12", {"type": "integer"}) == 12
    assert typed_value("1.5", {"type": "number"}) == 1.5
    assert typed_value("はい", {"type": "boolean"}) is True
    assert typed_value("007", {"type": ["string", "null"]}) == "007"
    assert typed_value('[{"sku": "A"}]', {"type": "array"}) == [{"sku": "A"}]
    with pytest.raises(ValueError, match="whole number"):
        typed_value("1.5", {"type": "integer"})
