"""Import normalization: dirty cells to profile values, or a problem saying what is wrong."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from services.imports import values
from services.imports.dates import DateProblem, parse_birthday, parse_date, parse_instant
from services.imports.regions import country_code, prefecture

TODAY = dt.date(2026, 1, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("ＡＢＣ　１２３", "ABC 123"), ("  山田　 花子 ", "山田 花子"), ("ﾔﾏﾀﾞ", "ヤマダ"), ("", None),
     ("-", None), ("ー", None), ("なし", None), ("N/A", None), ("－", None), ("null", None)],
)  # fmt: skip
def test_clean_folds_width_and_reads_placeholders_as_absent(raw: str, expected: str | None) -> None:
    assert values.clean(raw) == expected


def test_undecodable_bytes_are_a_problem() -> None:
    with pytest.raises(values.ValueProblem, match="encoding"):
        values.clean("山\ufffd")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("〒100-0001", "100-0001"), ("1000001", "100-0001"), ("〒 100 0001", "100-0001"),
     ("600000", "060-0000"), ("100-0001", "100-0001")],
)  # fmt: skip
def test_japanese_postal_codes(raw: str, expected: str) -> None:
    assert values.postal_code(values.clean(raw) or "", "JP") == expected


@pytest.mark.parametrize("raw", ["12-345", "abc", "100-00011"])
def test_bad_japanese_postal_codes(raw: str) -> None:
    with pytest.raises(values.ValueProblem, match="postal code"):
        values.postal_code(raw, "JP")


def test_us_zip_and_other_countries() -> None:
    assert values.postal_code("941031234", "US") == "94103-1234"
    assert values.postal_code("sw1a 1aa", "GB") == "SW1A 1AA"
    with pytest.raises(values.ValueProblem):
        values.postal_code("9410", "US")


def test_phones_use_the_region_and_full_width_digits() -> None:
    assert values.phone(values.clean("０９０－１２３４－５６７８") or "", "JP") == "+819012345678"
    assert values.phone("03-1234-5678", "JP") == "+81312345678"
    assert values.phone("(415) 555-2671", "US") == "+14155552671"
    with pytest.raises(values.ValueProblem, match="phone"):
        values.phone("12", "JP")


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert values.email(values.clean(" Hanako@Example.JP ") or "") == "hanako@example.jp"
    assert (
        values.email(values.clean("ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ") or "")
        == "hanako@example.jp"
    )
    with pytest.raises(values.ValueProblem, match="email"):
        values.email("hanako")


@pytest.mark.parametrize(
    "raw",
    ["1980/1/2", "1980-01-02", "1980年1月2日", "1980.1.2", "19800102", "昭和55年1月2日", "S55.1.2",
     "s55/01/02", "１９８０／０１／０２", "1980-01-02 00:00:00", "昭和５５年１月２日"],
)  # fmt: skip
def test_birthdays_in_common_forms(raw: str) -> None:
    assert parse_birthday(raw, "ymd", TODAY) == "1980-01-02"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("平成元年1月8日", "1989-01-08"), ("令和元年5月1日", "2019-05-01"), ("H1.2.3", "1989-02-03"),
     ("大正15年12月24日", "1926-12-24"), ("明治45年7月29日", "1912-07-29"), ("R2/3/4", "2020-03-04")],
)  # fmt: skip
def test_era_dates(raw: str, expected: str) -> None:
    assert parse_date(raw).isoformat() == expected


@pytest.mark.parametrize(
    "raw", ["昭和64年2月1日", "平成元年1月7日", "平成31年5月1日", "大正16年1月1日"]
)
def test_dates_outside_their_era_are_refused(raw: str) -> None:
    with pytest.raises(DateProblem, match="outside"):
        parse_date(raw)


def test_day_month_order_must_be_said_for_year_last_dates() -> None:
    with pytest.raises(DateProblem, match="date_order"):
        parse_date("1/2/1980")
    assert parse_date("1/2/1980", "mdy") == dt.date(1980, 1, 2)
    assert parse_date("1/2/1980", "dmy") == dt.date(1980, 2, 1)


@pytest.mark.parametrize("raw", ["1990/2/30", "someday", "2030-01-01", "1800-01-01", "13/13/1980"])
def test_impossible_birthdays(raw: str) -> None:
    with pytest.raises(DateProblem):
        parse_birthday(raw, "mdy", TODAY)


def test_instants_without_offset_are_in_the_mapping_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert parse_instant("2024/5/1 9:30", tokyo) == "2024-05-01T00:30:00.000Z"
    assert parse_instant("2024-05-01 09:30:00", tokyo) == "2024-05-01T00:30:00.000Z"
    assert parse_instant("2024-05-01T09:30:00+00:00", tokyo) == "2024-05-01T09:30:00.000Z"
    assert parse_instant("2024年5月1日", tokyo) == "2024-04-30T15:00:00.000Z"
    with pytest.raises(DateProblem):
        parse_instant("yesterday", tokyo)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("東京", "東京都"), ("東京都", "東京都"), ("Tokyo", "東京都"), ("tokyo-to", "東京都"), ("13", "東京都"),
     ("JP-13", "東京都"), ("大阪", "大阪府"), ("北海道", "北海道"), ("Hyōgo", "兵庫県"), ("Kyoto", "京都府"),
     ("京都", "京都府"), ("神奈川", "神奈川県"), ("ｵｵｻｶ", None), ("Narnia", None)],
)  # fmt: skip
def test_prefectures(raw: str, expected: str | None) -> None:
    assert prefecture(raw) == expected


def test_countries_by_code_and_name() -> None:
    assert country_code("jp") == "JP"
    assert country_code("Japan") == "JP"
    assert country_code("日本") == "JP"
    assert country_code("United States") == "US"
    assert country_code("Atlantis") is None


def test_languages_and_yes_no() -> None:
    assert values.language("Japanese") == "ja"
    assert values.language("en_us") == "en-US"
    assert values.language("ja") == "ja"
    with pytest.raises(values.ValueProblem):
        values.language("日本")
    assert values.yes_no("Yes") and values.yes_no("希望する") and values.yes_no("○")
    assert not values.yes_no("no") and not values.yes_no("配信停止")
    with pytest.raises(values.ValueProblem, match="neither"):
        values.yes_no("maybe")
