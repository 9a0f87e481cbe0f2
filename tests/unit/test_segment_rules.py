"""The rule language: what compiles (values only as parameters) and what is refused, where."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from events.contracts.segments import SegmentChanged
from projections.segments.rules import MAX_CONDITIONS, RuleError, compile_rule
from services.segments.refresher import reason

NOW = datetime(2026, 3, 1, tzinfo=UTC)
HOSTILE = "x') OR 1=1 --"
OPENED_NOT_BOUGHT = {"all": [
    {"touchpoints": {"type": "email.opened", "channel": "email", "within_days": 30}, "op": "gte", "value": 1},
    {"touchpoints": {"type": "purchase.completed", "within_days": 30}, "op": "eq", "value": 0},
]}  # fmt: skip
CHURN_TOP_DECILE = {"all": [
    {"rfm": "churn_risk", "op": "eq", "value": "high"},
    {"rfm": "monetary_decile", "op": "gte", "value": 10},
]}  # fmt: skip


def test_the_issue_examples_compile_with_one_column_per_condition() -> None:
    rule = compile_rule(OPENED_NOT_BOUGHT, NOW)
    assert [c.path for c in rule.conditions] == ["$.all[0]", "$.all[1]"]
    assert "email.opened" not in rule.sql and "email.opened" in rule.params.values()
    assert NOW - timedelta(days=30) in rule.params.values()
    assert " AS c0" in rule.sql and " AS c1" in rule.sql and " AS member" in rule.sql
    churn = compile_rule(CHURN_TOP_DECILE, NOW)
    assert "ntile(10)" in churn.sql and "high" in churn.params.values()


@pytest.mark.parametrize(
    "rule",
    [
        {"profile": "attributes.plan", "op": "eq", "value": HOSTILE},
        {"profile": "emails", "op": "contains", "value": HOSTILE},
        {"rfm": "segment", "op": "in", "value": [HOSTILE]},
        {"touchpoints": {"type": "email.opened", "within_days": 7}, "op": "gte", "value": 1},
        {
            "not": {
                "consent": {"channel": "email", "purpose": "marketing"},
                "state": ["withdrawn", "unknown"],
            }
        },
        {
            "any": [
                {"engagement": "score", "op": "gt", "value": 50},
                {"profile": "name.family", "op": "exists"},
            ]
        },
    ],
)
def test_values_travel_as_parameters_never_as_sql(rule: dict[str, Any]) -> None:
    compiled = compile_rule(rule, NOW)
    assert HOSTILE not in compiled.sql
    for name in compiled.params:
        assert f"{{{name}:" in compiled.sql


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ([], "$"),
        ({}, "$"),
        ({"all": []}, "$.all"),
        ({"all": [{"rfm": "segment", "op": "eq", "value": "x"}, {"bogus": 1}]}, "$.all[1]"),
        ({"any": [{"rfm": "churn_risk", "op": "like", "value": "x"}]}, "$.any[0].op"),
        ({"not": {"rfm": "wealth", "op": "eq", "value": 1}}, "$.not.rfm"),
        ({"profile": "Attributes;DROP", "op": "eq", "value": "x"}, "$.profile"),
        ({"profile": "attributes.plan", "op": "gt", "value": "gold"}, "$.op"),
        ({"profile": "attributes.plan", "op": "eq"}, "$.value"),
        (
            {"consent": {"channel": "fax", "purpose": "marketing"}, "state": "granted"},
            "$.consent.channel",
        ),
        ({"consent": {"channel": "email", "purpose": "marketing"}, "state": "maybe"}, "$.state"),
        (
            {"touchpoints": {"type": "email.opened", "within_days": 0}, "op": "gte", "value": 1},
            "$.touchpoints.within_days",
        ),
        (
            {"touchpoints": {"type": "DROP TABLE", "within_days": 3}, "op": "gte", "value": 1},
            "$.touchpoints.type",
        ),
        ({"engagement": "score", "op": "gte", "value": "high"}, "$.value"),
        ({"engagement": "score", "op": "gte", "value": True}, "$.value"),
        ({"all": [{"rfm": "segment", "op": "eq", "value": "x", "extra": 1}]}, "$.all[0].extra"),
    ],
)
def test_a_wrong_rule_is_refused_naming_where(rule: Any, path: str) -> None:
    with pytest.raises(RuleError) as refused:
        compile_rule(rule, NOW)
    assert refused.value.path == path


def test_too_deep_and_too_many_are_refused() -> None:
    deep: dict[str, Any] = {"rfm": "segment", "op": "eq", "value": "x"}
    for _ in range(12):
        deep = {"not": deep}
    with pytest.raises(RuleError, match="deeper"):
        compile_rule(deep, NOW)
    many = {
        "any": [{"rfm": "segment", "op": "eq", "value": str(i)} for i in range(MAX_CONDITIONS + 1)]
    }
    with pytest.raises(RuleError) as refused:
        compile_rule(many, NOW)
    assert refused.value.path == f"$.any[{MAX_CONDITIONS}]"


def test_the_reason_names_the_condition_that_flipped() -> None:
    conditions = [
        {"path": "$.all[0]", "text": "opened", "before": False, "after": True},
        {"path": "$.all[1]", "text": "bought nothing", "before": True, "after": True},
    ]
    assert reason(conditions, False) == "$.all[0] (opened) became true"
    unknown = [{**c, "before": None} for c in conditions]
    assert reason(unknown, False).startswith("first evaluation: $.all[0] (opened) is true")


def test_a_change_round_trips_its_contract() -> None:
    import jsonschema

    from events.contracts.schemas import topic_schema

    change = SegmentChanged("acme", "0" * 8 + "-0000-0000-0000-" + "0" * 12, "lapsed", 2,
                            "1" * 8 + "-1111-1111-1111-" + "1" * 12, "entered", "sql refresh", [],
                            1_700_000_000_000, "2" * 8 + "-2222-2222-2222-" + "2" * 12)  # fmt: skip
    jsonschema.Draft7Validator(topic_schema("segments")).validate(
        __import__("orjson").loads(change.encode())
    )
    assert SegmentChanged.decode(change.encode()) == change
