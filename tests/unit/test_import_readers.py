"""Import readers: encodings, real CP932 and .xlsx files, header detection, row numbers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from services.imports.encoding import detect_encoding
from services.imports.errors import ImportFileError
from services.imports.header import column_key, read_table
from services.imports.presets import any_preset_knows
from services.imports.readers import cell_text, open_rows

JP_ROWS = [["会員番号", "姓", "名", "電話番号"], ["A001", "山田", "花子", "090-1234-5678"],
           ["A002", "髙橋", "①郎", "03-1234-5678"]]  # fmt: skip


def write_csv(path: Path, rows: list[list[str]], encoding: str) -> Path:
    path.write_bytes("".join(",".join(r) + "\r\n" for r in rows).encode(encoding))
    return path


def table_of(path: Path, **kwargs: str):  # type: ignore[no-untyped-def]
    source = open_rows(path, **kwargs)
    return source, read_table(source.rows, any_preset_knows)


def test_cp932_export_is_detected_and_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", JP_ROWS * 30, "cp932")  # 髙 and ① exist in CP932 only
    source, table = table_of(path)
    assert "cp932" in source.described and "detected" in source.described
    first = next(table.records)
    assert first.values == {
        "会員番号": "A001",
        "姓": "山田",
        "名": "花子",
        "電話番号": "090-1234-5678",
    }
    assert next(table.records).values["姓"] == "髙橋"


@pytest.mark.parametrize(("encoding", "codec"), [("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")])
def test_utf8_with_and_without_bom(tmp_path: Path, encoding: str, codec: str) -> None:
    path = write_csv(tmp_path / "u.csv", JP_ROWS, encoding)
    assert detect_encoding(path).codec == codec
    _, table = table_of(path)
    assert table.columns[0] == "会員番号"  # no BOM left on the first column name


def test_given_encoding_wins_and_unknown_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", JP_ROWS, "cp932")
    assert detect_encoding(path, "shift_jis").how == "given"
    with pytest.raises(ImportFileError, match="unknown encoding"):
        open_rows(path, encoding="klingon")


def test_bytes_the_encoding_cannot_read_become_a_marked_cell(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes("姓,名\r\n山田,花子\r\n".encode() + "佐藤,京子\r\n".encode("cp932"))
    _, table = table_of(path)
    rows = list(table.records)
    assert rows[0].values["姓"] == "山田"
    assert "\ufffd" in rows[1].values["姓"]


def test_header_found_below_title_rows_and_rows_numbered_as_in_the_file(tmp_path: Path) -> None:
    rows = [["顧客一覧"], ["出力日 2024/05/01"], [], *JP_ROWS]
    _, table = table_of(write_csv(tmp_path / "t.csv", rows, "utf-8"))
    assert table.header_row == 4
    assert [r.number for r in table.records] == [5, 6]


def test_quoted_newlines_count_as_one_row(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('姓,名\n"山\n田",花子\n佐藤,京子\n', encoding="utf-8")
    _, table = table_of(path)
    assert [(r.number, r.values["姓"]) for r in table.records] == [(2, "山\n田"), (3, "佐藤")]


def test_semicolon_and_tab_separated(tmp_path: Path) -> None:
    semi = tmp_path / "s.csv"
    semi.write_text("First Name;Last Name;Email\nJohn;Smith;j@x.io\n", encoding="utf-8")
    _, table = table_of(semi)
    assert next(table.records).values == {
        "First Name": "John",
        "Last Name": "Smith",
        "Email": "j@x.io",
    }
    tab = tmp_path / "t.tsv"
    tab.write_text("First Name\tEmail\nJohn\tj@x.io\n", encoding="utf-8")
    assert next(table_of(tab)[1].records).values["Email"] == "j@x.io"


def test_repeated_column_names_are_numbered(tmp_path: Path) -> None:
    _, table = table_of(
        write_csv(tmp_path / "r.csv", [["姓", "電話番号", "電話番号"], ["a", "1", "2"]], "utf-8")
    )
    assert table.columns == ["姓", "電話番号", "電話番号#2"]


def test_xlsx_rows_with_types_and_offset_start(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B3"] = "会員番号"
    sheet["C3"] = "生年月日"
    sheet["D3"] = "郵便番号"
    sheet["B4"] = 1001
    sheet["C4"] = dt.datetime(1980, 1, 2)
    sheet["D4"] = 1000001
    book.save(tmp_path / "x.xlsx")
    source, table = table_of(tmp_path / "x.xlsx")
    assert "Excel" in source.described
    assert table.header_row == 3
    record = next(table.records)
    assert record.number == 4
    assert record.values == {"会員番号": "1001", "生年月日": "1980-01-02", "郵便番号": "1000001"}


def test_cell_text_writes_numbers_as_a_csv_export_would() -> None:
    assert cell_text(12.0) == "12"
    assert cell_text(12.5) == "12.5"
    assert cell_text(True) == "TRUE"
    assert cell_text(dt.date(2024, 5, 1)) == "2024-05-01"


def test_other_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        open_rows(tmp_path / "none.csv")
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    with pytest.raises(ImportFileError, match="expected"):
        open_rows(tmp_path / "a.pdf")
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ImportFileError, match="cannot read as Excel"):
        open_rows(tmp_path / "bad.xlsx")


def test_column_keys_ignore_case_width_spaces_and_brackets() -> None:
    assert column_key("First Name") == column_key("first_name") == column_key("FIRST NAME")
    assert column_key("姓（カナ）") == column_key("姓(カナ)") == column_key("姓 カナ")
    assert column_key("ＴＥＬ") == column_key("tel")
