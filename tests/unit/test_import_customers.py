"""Customer rows to events: mappings and presets, idempotent ids, all-or-nothing rows, the report."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from functools import cache
from pathlib import Path

import pytest

from events.intake import EventIntake, PreparedEvent
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.errors import MappingError
from services.imports.header import Record
from services.imports.mapping import customer_mapping, load_document
from services.imports.presets import choose_preset, presets
from services.imports.report import ImportSummary, ProblemReport
from services.imports.rows import Converted, EventContext
from services.imports.sending import send_rows

CONTEXT = EventContext("acme", "import:customers.csv", "2024-05-01T00:00:00.000Z", "JP")
JP_COLUMNS = ["会員番号", "姓", "名", "セイ", "メイ", "〒", "都道府県", "市区町村", "番地", "建物名",
              "電話番号", "携帯電話", "メールアドレス", "生年月日", "会社名", "メルマガ配信"]  # fmt: skip
HANAKO = {"会員番号": "A001", "姓": "山田", "名": "花子", "セイ": "ﾔﾏﾀﾞ", "メイ": "ﾊﾅｺ", "〒": "〒１００－０００１",
          "都道府県": "東京", "市区町村": "千代田区", "番地": "千代田１－１", "建物名": "-",
          "電話番号": "03-1234-5678", "携帯電話": "０９０－１２３４－５６７８",
          "メールアドレス": " Hanako@Example.JP ", "生年月日": "昭和55年1月2日", "会社名": "なし",
          "メルマガ配信": "希望する"}  # fmt: skip


def japanese(columns: list[str] = JP_COLUMNS) -> CustomerRows:
    return CustomerRows(presets()["japanese"], columns, CONTEXT, today=dt.date(2026, 1, 1))


@cache
def intake() -> EventIntake:
    return EventIntake("JP")  # compiling every type's validator takes a moment: once per run


def convert(rows: CustomerRows, *records: dict[str, str]) -> list[Converted]:
    found = [Record(i + 2, r) for i, r in enumerate(records)]
    return list(convert_records(found, rows, intake(), "acme"))


def test_a_dirty_japanese_row_becomes_a_clean_profile_and_consent() -> None:
    [row] = convert(japanese(), HANAKO)
    assert row.problems == [] and len(row.prepared) == 2
    profile, consent = row.events
    assert profile["type"] == "customer.profile_updated"
    assert profile["identities"] == consent["identities"]
    assert profile["identities"] == {
        "customer_ref": "A001",
        "email": "hanako@example.jp",
        "phone": "+81312345678",
    }
    assert profile["payload"] == {
        "emails": ["hanako@example.jp"],
        "phones": ["+81312345678", "+819012345678"],
        "name": {"family": "山田", "given": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ"},
        "address": {"country": "JP", "postal_code": "100-0001", "region": "東京都", "city": "千代田区",
                    "line1": "千代田1-1"},
        "birthday": "1980-01-02",
    }  # fmt: skip
    assert (
        profile["source"] == "import:customers.csv"
        and profile["occurred_at"] == CONTEXT.occurred_at
    )
    assert consent["type"] == "consent.granted"
    assert consent["payload"]["channel"] == "email" and consent["payload"]["purpose"] == "marketing"


def test_a_row_with_any_problem_gives_no_event_and_names_every_column() -> None:
    bad = {
        **HANAKO,
        "電話番号": "12",
        "生年月日": "1990/2/30",
        "都道府県": "Narnia",
        "メルマガ配信": "たぶん",
    }
    [row] = convert(japanese(), bad)
    assert row.events == [] and row.prepared == []
    assert sorted(p.column for p in row.problems) == [
        "メルマガ配信",
        "生年月日",
        "都道府県",
        "電話番号",
    ]
    assert all(p.row == 2 for p in row.problems)


def test_intake_problems_are_named_by_their_column() -> None:
    [row] = convert(japanese(), {**HANAKO, "姓": "山" * 200})
    assert row.prepared == []
    assert [(p.column, p.problem.split(":")[0]) for p in row.problems] == [
        ("姓", "/payload/name/family")
    ]


def test_without_customer_ref_the_first_email_and_phone_identify_the_row() -> None:
    by_email, by_phone = convert(
        japanese(), {**HANAKO, "会員番号": ""}, {"電話番号": "03-1234-5678", "姓": "山田"}
    )
    assert by_email.events[0]["identities"] == {
        "email": "hanako@example.jp",
        "phone": "+81312345678",
    }
    assert by_phone.events[0]["identities"] == {"phone": "+81312345678"}


def test_rows_without_identifier_or_with_nothing_else() -> None:
    no_id, only_id, blank = convert(japanese(), {"姓": "山田"}, {"会員番号": "A9"}, {"備考": "x"})
    assert no_id.problems[0].column == "" and "identifier" in no_id.problems[0].problem
    assert "nothing to import" in only_id.problems[0].problem
    assert blank.blank and not blank.problems


def test_same_row_same_ids_changed_row_new_ids() -> None:
    first, again, changed = convert(
        japanese(), HANAKO, dict(HANAKO), {**HANAKO, "市区町村": "港区"}
    )
    assert [e["event_id"] for e in first.events] == [e["event_id"] for e in again.events]
    assert first.events[0]["event_id"] != changed.events[0]["event_id"]
    assert (
        first.events[1]["event_id"] == changed.events[1]["event_id"]
    )  # the consent did not change
    other = EventContext("other", CONTEXT.source, CONTEXT.occurred_at, "JP")
    [elsewhere] = convert(CustomerRows(presets()["japanese"], JP_COLUMNS, other), HANAKO)
    assert elsewhere.events[0]["event_id"] != first.events[0]["event_id"]


def test_spelling_differences_that_normalize_alike_give_the_same_id() -> None:
    tidy = {
        **HANAKO,
        "電話番号": "0312345678",
        "メールアドレス": "hanako@example.jp",
        "〒": "1000001",
    }
    first, second = convert(japanese(), HANAKO, tidy)
    assert first.events[0]["event_id"] == second.events[0]["event_id"]


def test_full_name_columns_are_split_in_the_mapping_order() -> None:
    rows = japanese(["会員番号", "氏名", "フリガナ"])
    split, unsplit, no_space_kana = convert(
        rows, {"会員番号": "1", "氏名": "山田　花子", "フリガナ": "ヤマダ ハナコ"},
        {"会員番号": "2", "氏名": "山田花子"}, {"会員番号": "3", "氏名": "山田 花子", "フリガナ": "ヤマダハナコ"},
    )  # fmt: skip
    assert split.events[0]["payload"]["name"] == {"family": "山田", "given": "花子", "family_kana": "ヤマダ", "given_kana": "ハナコ"}  # fmt: skip
    assert unsplit.events[0]["payload"]["name"] == {"display": "山田花子"}
    assert no_space_kana.problems[0].column == "フリガナ"


def test_mapping_file_in_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text('region = "US"\ndate_order = "mdy"\n[columns]\n"Client #" = "customer_ref"\n'
                    '"Surname" = "name.family"\n"DOB" = "birthday"\n"Tier" = "attributes.tier"\n'
                    '[consent."Texts OK"]\nchannel = "sms"\n', encoding="utf-8")  # fmt: skip
    json_file = tmp_path / "m.json"
    json_file.write_text('{"region": "US", "date_order": "mdy", "columns": {"Client #": "customer_ref", "Surname": "name.family", "DOB": "birthday", "Tier": "attributes.tier"}, "consent": {"Texts OK": {"channel": "sms"}}}')  # fmt: skip
    columns = ["Client #", "Surname", "DOB", "Tier", "Texts OK"]
    record = {
        "Client #": "77",
        "Surname": "Smith",
        "DOB": "1/2/1980",
        "Tier": "gold",
        "Texts OK": "no",
    }
    results = []
    for path in (toml, json_file):
        mapping = customer_mapping(load_document(path), str(path))
        context = EventContext("acme", "crm", CONTEXT.occurred_at, mapping.options.region or "US")
        [row] = convert(CustomerRows(mapping, columns, context, strict=True), record)
        results.append(row.events)
    assert results[0] == results[1]
    profile, consent = results[0]
    assert profile["payload"] == {"name": {"family": "Smith"}, "birthday": "1980-01-02", "attributes": {"tier": "gold"}}  # fmt: skip
    assert consent["type"] == "consent.withdrawn" and consent["payload"]["channel"] == "sms"


@pytest.mark.parametrize(
    ("text", "message"),
    [('[columns]\n"A" = "nickname"\n', "unknown target"), ('timezone = "Mars/Base"\n[columns]\n"A" = "company"\n', "timezone"),
     ('[columns]\n', "maps no column"), ('date_order = "ydm"\n[columns]\n"A" = "company"\n', "date_order"),
     ('[columns]\n"A" = "company"\n[consent."B"]\nchannel = "fax"\n', "channel"), ("[columns\n", "m.toml")],
)  # fmt: skip
def test_bad_mapping_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(MappingError, match=message):
        customer_mapping(load_document(path), str(path))


def test_a_mapping_file_naming_a_missing_column_is_refused() -> None:
    mapping = customer_mapping(
        {"columns": {"Client #": "customer_ref", "Email": "email"}}, "m.toml"
    )
    with pytest.raises(MappingError, match="columns not in the file: client#"):
        CustomerRows(mapping, ["Email"], CONTEXT, strict=True)


@pytest.mark.parametrize(
    ("columns", "preset"),
    [(JP_COLUMNS, "japanese"),
     (["会員ID", "お名前(姓)", "お名前(名)", "お名前(フリガナ・姓)", "お名前(フリガナ・名)", "郵便番号", "住所1", "住所2", "TEL"], "japanese"),
     (["Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing", "Default Address Company",
       "Default Address Address1", "Default Address City", "Default Address Province Code",
       "Default Address Country Code", "Default Address Zip", "Phone", "Accepts SMS Marketing", "Total Spent", "Tags"], "shopify"),
     (["First Name", "Last Name", "Email", "Company", "Address1", "Address2", "City", "Province", "Province Code",
       "Country", "Country Code", "Zip", "Phone", "Accepts Email Marketing", "Total Spent", "Tags", "Note"], "shopify"),
     (["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name", "Street Address",
       "State/Region", "Postal Code", "Country/Region", "Last Modified Date", "Lifecycle Stage"], "hubspot"),
     (["ID", "First Name", "Last Name", "Email", "Phone", "Date of Birth", "Address Line 1", "Zip Code", "Email Opt-In"], "english")],
)  # fmt: skip
def test_auto_picks_the_preset_that_fits(columns: list[str], preset: str) -> None:
    choice = choose_preset(columns)
    assert choice is not None and choice.mapping.name == preset
    assert choice.matched >= len(columns) // 2


def test_no_preset_for_unrelated_columns() -> None:
    assert choose_preset(["sku", "quantity", "warehouse"]) is None


def test_shopify_row_with_province_code_and_consent() -> None:
    columns = ["Customer ID", "First Name", "Last Name", "Email", "Phone", "Default Address Province Code",
               "Default Address Country Code", "Default Address Zip", "Accepts Email Marketing", "Accepts SMS Marketing"]  # fmt: skip
    record = dict(zip(columns, ["8801", "Hanako", "Yamada", "h@example.jp", "+81 90 1234 5678", "JP-13", "JP",
                                "1000001", "yes", "no"], strict=True))  # fmt: skip
    rows = CustomerRows(
        presets()["shopify"], columns, EventContext("acme", "shopify", CONTEXT.occurred_at, "US")
    )
    [row] = convert(rows, record)
    profile, email, sms = row.events
    assert profile["payload"]["address"] == {
        "region": "東京都",
        "country": "JP",
        "postal_code": "100-0001",
    }
    assert (email["type"], sms["type"]) == ("consent.granted", "consent.withdrawn")


def test_national_phone_numbers_are_read_in_the_rows_country() -> None:
    columns = ["会員番号", "電話番号", "国"]
    mapping = customer_mapping({"region": "JP", "columns": {"会員番号": "customer_ref", "電話番号": "phone", "国": "address.country"}}, "m")  # fmt: skip
    us, jp = convert(
        CustomerRows(mapping, columns, CONTEXT),
        {"会員番号": "1", "電話番号": "(415) 555-2671", "国": "United States"},
        {"会員番号": "2", "電話番号": "03-1234-5678"},
    )
    assert us.events[0]["payload"]["phones"] == ["+14155552671"]
    assert jp.events[0]["payload"]["phones"] == ["+81312345678"]


def test_hubspot_unsubscribed_withdraws() -> None:
    columns = ["Record ID", "Email", "Unsubscribed from all email"]
    rows = CustomerRows(presets()["hubspot"], columns, CONTEXT)
    [row] = convert(
        rows, {"Record ID": "1", "Email": "a@b.io", "Unsubscribed from all email": "true"}
    )
    assert row.events[1]["type"] == "consent.withdrawn"


def test_updated_at_column_sets_occurred_at_in_the_mapping_zone() -> None:
    rows = japanese(["会員番号", "メールアドレス", "更新日時"])
    [row] = convert(
        rows, {"会員番号": "1", "メールアドレス": "a@b.jp", "更新日時": "2024/05/01 09:00"}
    )
    assert row.events[0]["occurred_at"] == "2024-05-01T00:00:00.000Z"
    [late] = convert(
        rows, {"会員番号": "1", "メールアドレス": "a@b.jp", "更新日時": "2099/05/01 09:00"}
    )
    assert late.problems[0].column == "更新日時" and "future" in late.problems[0].problem


def test_summary_report_and_sending(tmp_path: Path) -> None:
    rows = convert(
        japanese(),
        HANAKO,
        {**HANAKO, "電話番号": "12"},
        {},
        dict(HANAKO),
        {**HANAKO, "会員番号": "A2"},
    )
    sent: list[list[PreparedEvent]] = []

    async def send(batch: list[PreparedEvent]) -> None:
        sent.append(batch)

    summary = ImportSummary()
    with ProblemReport(tmp_path / "r.csv") as report:
        asyncio.run(send_rows(rows, send, summary, report, batch=3))
    assert (
        summary.rows_read,
        summary.rows_refused,
        summary.duplicate_rows,
        summary.blank_rows,
    ) == (4, 1, 1, 1)
    assert summary.events_sent == 4 == sum(len(b) for b in sent)
    assert [len(b) for b in sent] == [4]  # batches close at the first row that fills them
    ids = [p.event_id for b in sent for p in b]
    assert len(set(ids)) == 4
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["row", "column", "problem"]
    assert lines[1][:2] == ["3", "電話番号"] and "phone" in lines[1][2]


def test_summary_lines() -> None:
    summary = ImportSummary(rows_read=3, events_sent=2, rows_refused=1)
    rows = convert(japanese(), {**HANAKO, "電話番号": "12"})
    summary.take(rows[0], None)
    out = io.StringIO()
    summary.print(out)
    text = out.getvalue()
    assert text.startswith("rows read 4, events sent 2, rows refused 2, duplicates in the file 0\n")
    assert "  row 2, 電話番号: '12': not a valid phone number" in text
