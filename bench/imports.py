"""Customer import throughput: the conversion alone, and with ``--kafka`` the whole import.

Generates a Japanese CRM export (CP932, like most Japanese software writes) of N rows with
unique customers, then converts it as ``touchline import customers`` does with
``--preset auto`` (read + map + normalize + prepare, no broker). With ``--kafka``, a private
broker is started and the first ``--kafka-rows`` rows are imported into it twice: the way
the command sends (``Publisher.send_prepared`` of the events conversion judged) and through
``Publisher.publish_many`` (which judges every event again), each against the conversion
alone on the same rows.

    .venv/bin/python -m bench.imports [--rows 1000000] [--kafka [--kafka-rows 200000]] [--keep FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import os
import random
import tempfile
import time
from pathlib import Path

from bench.common import REPO, free_port
from events.intake import EventIntake
from services.imports.conversion import convert_records
from services.imports.customers import CustomerRows
from services.imports.header import read_table
from services.imports.presets import any_preset_knows, choose_preset
from services.imports.readers import open_rows
from services.imports.report import ImportSummary
from services.imports.rows import Converted, EventContext
from services.imports.sending import Send, send_rows
from services.kafka.broker import LocalKafkaBroker
from services.kafka.topics import ensure_topics
from services.platform.settings import Settings
from services.publishing.publisher import Publisher

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


def converted(path: Path, limit: int | None = None) -> itertools.islice[Converted]:
    """The rows of ``path`` as the command converts them (lazily: the caller times the work)."""
    source = open_rows(path)
    table = read_table(source.rows, any_preset_knows)
    choice = choose_preset(table.columns)
    assert choice is not None
    context = EventContext("bench", f"import:{path.name}", "2024-05-01T00:00:00.000Z", "JP")
    converter = CustomerRows(choice.mapping, table.columns, context)
    return itertools.islice(
        convert_records(table.records, converter, EventIntake("JP"), "bench"), limit
    )


def convert(path: Path, limit: int | None = None) -> tuple[ImportSummary, float]:
    start = time.perf_counter()
    summary = ImportSummary()
    for row in converted(path, limit):
        summary.events_sent += len(summary.take(row, None))
    return summary, time.perf_counter() - start


async def send_all(path: Path, limit: int, bootstrap: str, how: str) -> tuple[ImportSummary, float]:
    summary = ImportSummary()
    async with Publisher(bootstrap, "bench", default_region="JP") as publisher:
        start = time.perf_counter()
        if how == "send_prepared":
            await send_rows(converted(path, limit), publisher.send_prepared, summary, None)
        else:  # the raw envelopes, judged again by publish_many
            rows = (_as_prepared_by_publish_many(row) for row in converted(path, limit))
            await send_rows(rows, _publish_many(publisher), summary, None)
        return summary, time.perf_counter() - start


def _as_prepared_by_publish_many(row: Converted) -> Converted:
    row.prepared = [p._replace(value=e) for p, e in zip(row.prepared, row.events, strict=True)]  # type: ignore[arg-type]
    return row


def _publish_many(publisher: Publisher) -> Send:
    async def send(batch: list) -> None:  # type: ignore[type-arg]
        await publisher.publish_many([p.value for p in batch])

    return send


def with_broker(path: Path, limit: int) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as tmp:
        settings = Settings.from_env({
            "TOUCHLINE_DATA_DIR": tmp, "TOUCHLINE_CACHE_DIR": str(REPO / ".touchline" / "cache"),
            "TOUCHLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
            "TOUCHLINE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "TOUCHLINE_KAFKA_HEAP": os.environ.get("TOUCHLINE_KAFKA_HEAP", "1g"),
        })  # fmt: skip
        broker = LocalKafkaBroker(settings)
        broker.start()
        try:
            asyncio.run(ensure_topics(settings))
            return _kafka_lines(path, limit, settings.kafka_bootstrap)
        finally:
            broker.stop()


def _kafka_lines(path: Path, limit: int, bootstrap: str) -> list[str]:
    base, base_s = convert(path, limit)
    lines = [line(f"conversion alone, first {base.rows_read:,} rows", base.rows_read / base_s, 1.0)]
    for how in ("send_prepared", "publish_many"):
        summary, seconds = asyncio.run(send_all(path, limit, bootstrap, how))
        assert summary.events_sent == base.events_sent
        rate = summary.rows_read / seconds
        lines.append(line(f"import to Kafka ({how})", rate, rate / (base.rows_read / base_s)))
    return lines


def line(label: str, rate: float, ratio: float) -> str:
    return f"  {label:<48}{rate:>9,.0f} rows/s  {ratio:5.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--kafka", action="store_true", help="also import into a private broker")
    parser.add_argument("--kafka-rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "customers.csv"
        started = time.perf_counter()
        write_export(path, args.rows)
        size = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size:.0f} MB, CP932) in {time.perf_counter() - started:.0f} s"
        )
        summary, seconds = convert(path)
        print(
            f"  rows read {summary.rows_read:,}, events {summary.events_sent:,}, refused {summary.rows_refused:,}"
        )
        print(
            line(
                f"conversion (read + map + normalize + prepare), {seconds:.0f} s",
                summary.rows_read / seconds,
                1.0,
            )
        )
        if args.kafka:
            print("\n".join(with_broker(path, min(args.kafka_rows, args.rows))))


if __name__ == "__main__":
    main()
