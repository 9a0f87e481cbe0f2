"""``touchline import``: a dirty CSV and the same data as .xlsx reach ``touchpoints`` as the same events."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest

from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from tests.support import base_env, cli, end_offsets, random_tenant, read_since

pytestmark = pytest.mark.integration

HEADER = ["会員番号", "姓", "名", "セイ", "メイ", "郵便番号", "都道府県", "市区町村", "住所1",
          "電話番号", "メールアドレス", "生年月日", "メルマガ配信", "更新日時"]  # fmt: skip
ROWS = [
    ["A001", "山田", "花子", "ﾔﾏﾀﾞ", "ﾊﾅｺ", "〒１００－０００１", "東京", "千代田区", "千代田１－１",
     "０９０－１２３４－５６７８", " Hanako@Example.JP ", "昭和55年1月2日", "希望する", "2024/05/01 09:00"],
    ["A002", "佐藤", "京子", "サトウ", "キョウコ", "0600000", "北海道", "札幌市", "北1条",
     "011-222-3333", "kyoko@example.jp", "1990/2/3", "いいえ", "2024/05/02 10:00"],
    ["A003", "鈴木", "一郎", "スズキ", "イチロウ", "1234567", "Narnia", "港区", "1-2-3",
     "12", "bad-email", "1985-07-08", "", "2024/05/03 11:00"],
    ["A001", "山田", "花子", "ﾔﾏﾀﾞ", "ﾊﾅｺ", "〒１００－０００１", "東京", "千代田区", "千代田１－１",
     "０９０－１２３４－５６７８", " Hanako@Example.JP ", "昭和55年1月2日", "希望する", "2024/05/01 09:00"],
]  # fmt: skip


def write_files(tmp_path: Path) -> tuple[Path, Path]:
    csv_path = tmp_path / "顧客.csv"
    with csv_path.open("w", encoding="cp932", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["顧客一覧"])
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["顧客一覧"])
    sheet.append(HEADER)
    for row in ROWS:
        sheet.append(row)
    xlsx_path = tmp_path / "顧客.xlsx"
    book.save(xlsx_path)
    return csv_path, xlsx_path


def run_import(env: dict[str, str], path: Path, tenant: str) -> tuple[Any, list[dict[str, Any]]]:
    since = asyncio.run(end_offsets(env["TOUCHLINE_KAFKA_BOOTSTRAP"]))
    done = cli(
        env,
        "import",
        "customers",
        str(path),
        "--tenant",
        tenant,
        "--source",
        "crm-import",
        check=False,
    )
    written = [
        orjson.loads(r.value)
        for r in asyncio.run(read_since(env["TOUCHLINE_KAFKA_BOOTSTRAP"], since))
    ]
    protector = open_protector(Settings.from_env(env))  # the import's keys
    assert protector is not None
    mine = [e for e in written if e["tenant"] == tenant]
    assert not any(b"Hanako" in orjson.dumps(e) for e in mine)  # sealed in the log
    return done, [opened.envelope for opened in protector.open_batch(mine)]


def test_csv_and_xlsx_of_the_same_data_give_the_same_events(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(tmp_path))
    tenant = random_tenant()
    csv_path, xlsx_path = write_files(tmp_path)

    done, from_csv = run_import(env, csv_path, tenant)
    assert done.returncode == 1  # one row refused
    assert "cp932" in done.stderr and "preset auto: japanese" in done.stderr
    assert "rows read 4, events sent 4, rows refused 1, duplicates in the file 1" in done.stderr
    report = list(csv.reader(csv_path.with_name("顧客.csv.report.csv").open(encoding="utf-8-sig")))
    assert sorted(line[1] for line in report[1:]) == ["メールアドレス", "都道府県", "電話番号"]
    assert {line[0] for line in report[1:]} == {"5"}
    types = sorted(e["type"] for e in from_csv)
    assert types == [
        "consent.granted",
        "consent.withdrawn",
        "customer.profile_updated",
        "customer.profile_updated",
    ]
    hanako = next(e for e in from_csv if e["identities"].get("customer_ref") == "A001" and e["type"] == "customer.profile_updated")  # fmt: skip
    assert hanako["payload"]["address"]["postal_code"] == "100-0001"
    assert hanako["occurred_at"] == "2024-05-01T00:00:00.000Z"
    assert hanako["source"] == "crm-import"

    done, from_xlsx = run_import(env, xlsx_path, tenant)
    assert "Excel" in done.stderr
    assert sorted(e["event_id"] for e in from_xlsx) == sorted(e["event_id"] for e in from_csv)

    done, again = run_import(env, csv_path, tenant)
    assert sorted(e["event_id"] for e in again) == sorted(e["event_id"] for e in from_csv)


def test_history_rows_become_touchpoints(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(tmp_path))
    tenant = random_tenant()
    mapping = tmp_path / "visits.toml"
    mapping.write_text('type = "store.visited"\noccurred_at = "来店日時"\ntimezone = "Asia/Tokyo"\n'
                       '[identities]\n"会員番号" = "customer_ref"\n[payload]\n"店舗" = "store_id"\n"滞在(秒)" = "duration_s"\n',
                       encoding="utf-8")  # fmt: skip
    data = tmp_path / "visits.csv"
    data.write_text("会員番号,来店日時,店舗,滞在(秒)\nA001,2024/05/01 10:00,shibuya,１２００\nA002,2024/05/02 11:00,ginza,long\n", encoding="utf-8")  # fmt: skip
    since = asyncio.run(end_offsets(kafka_bootstrap))
    done = cli(
        env,
        "import",
        "history",
        str(data),
        "--mapping",
        str(mapping),
        "--tenant",
        tenant,
        check=False,
    )
    assert done.returncode == 1 and "row 3, 滞在(秒): 'long' is not a number" in done.stderr
    written = [orjson.loads(r.value) for r in asyncio.run(read_since(kafka_bootstrap, since))]
    [visit] = [e for e in written if e["tenant"] == tenant]
    assert visit["type"] == "store.visited" and visit["channel"] == "store"
    assert visit["payload"] == {"store_id": "shibuya", "duration_s": 1200}
    assert visit["occurred_at"] == "2024-05-01T01:00:00.000Z"
