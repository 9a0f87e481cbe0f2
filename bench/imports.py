"""Customer import conversion throughput: read + map + normalize + prepare, no broker.

Generates a Japanese CRM export (CP932, like most Japanese software writes) of N rows with
unique customers, then converts it as ``touchline import customers`` does with
``--preset auto`` and counts what the summary would say.

    .venv/bin/python -m bench.imports [--rows 1000000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

from events.intake import EventIntake
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.header import read_table
from services.imports.presets import any_preset_knows, choose_preset
from services.imports.readers import open_rows
from services.imports.report import ImportSummary
from services.imports.rows import EventContext

HEADER = ["会員番号", "姓", "名", "セイ", "メイ", "郵便番号", "都道府県", "市区町村", "住所1",
          "建物名", "電話番号", "メールアドレス", "生年月日", "会社名", "メルマガ配信"]  # fmt: skip
FAMILY = [
    ("山田", "ヤマダ"),
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
]
GIVEN = [
    ("花子", "ハナコ"),
    ("太郎", "タロウ"),
    ("京子", "キョウコ"),
    ("一郎", "イチロウ"),
    ("翔", "ショウ"),
]
PLACES = [
    ("東京", "千代田区"),
    ("大阪府", "大阪市北区"),
    ("北海道", "札幌市中央区"),
    ("福岡県", "福岡市"),
]


def write_export(path: Path, rows: int, seed: int = 7) -> None:
    """Dirty in the usual ways: full-width digits, half-width kana, 〒, era birthdays, blanks."""
    rng = random.Random(seed)
    with path.open("w", encoding="cp932", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            (family, fk), (given, gk) = rng.choice(FAMILY), rng.choice(GIVEN)
            region, city = rng.choice(PLACES)
            phone = f"090-{rng.randrange(1000, 10000)}-{i % 10000:04d}"
            birthday = (
                f"昭和{rng.randint(30, 63)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日"
                if i % 2
                else f"{rng.randint(1950, 2005)}/{rng.randint(1, 12)}/{rng.randint(1, 28)}"
            )
            out.writerow([f"C{i:08d}", family, given, fk if i % 3 else "ﾔﾏﾀﾞ", gk,
                          f"〒{rng.randrange(1000000, 9999999)}", region, city, f"{i % 9 + 1}-{i % 30 + 1}",
                          "" if i % 4 else "ハイツ101", phone.translate(str.maketrans("0123456789", "０１２３４５６７８９")) if i % 5 == 0 else phone,
                          f" User{i}@Example.JP ", birthday, "-" if i % 2 else "株式会社テスト",
                          "希望する" if i % 2 else "希望しない"])  # fmt: skip


def convert(path: Path) -> tuple[ImportSummary, float]:
    start = time.perf_counter()
    source = open_rows(path)
    table = read_table(source.rows, any_preset_knows)
    choice = choose_preset(table.columns)
    assert choice is not None
    context = EventContext("bench", f"import:{path.name}", "2024-05-01T00:00:00.000Z", "JP")
    converter = CustomerRows(choice.mapping, table.columns, context)
    summary = ImportSummary()
    for row in convert_records(table.records, converter, EventIntake("JP"), "bench"):
        summary.events_sent += len(summary.take(row, None))
    return summary, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "customers.csv"
        started = time.perf_counter()
        write_export(path, args.rows)
        print(
            f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB, CP932) in {time.perf_counter() - started:.0f} s"
        )
        summary, seconds = convert(path)
    print(
        f"  rows read {summary.rows_read:,}, events {summary.events_sent:,}, refused {summary.rows_refused:,}"
    )
    print(
        f"  conversion (read + map + normalize + prepare){summary.rows_read / seconds:>12,.0f} rows/s  ({seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
