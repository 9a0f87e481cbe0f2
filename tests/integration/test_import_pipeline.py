"""Uploads through the real pipeline: a dirty CSV and the same data as XLSX resolve to the same
customers, and uploading the file again changes nothing the stream worker writes."""

from __future__ import annotations

import asyncio
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from events.topics import CUSTOMERS, IDENTITY_COMMANDS, RESOLVED, TOUCHPOINTS
from projections.opening import Opener
from projections.rows import Rejected, SourceRecord
from services.kafka.lag import LagProbe
from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from tests.integration.test_import_uploads import imported
from tests.integration.test_imports import write_files
from tests.support import (
    TOUCHLINE,
    ApiServer,
    base_env,
    end_offsets,
    random_tenant,
    read_since,
    start_group_at_end,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(api: ApiServer, tmp_path: Path) -> Iterator[str]:
    """A stream worker of its own group, with the API's keys (it links by the same subjects)."""
    bootstrap = api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]
    data = Path(api.env["TOUCHLINE_DATA_DIR"])
    group = f"imports-{random_tenant()}"
    env = base_env(bootstrap, TOUCHLINE_DATA_DIR=str(tmp_path / "worker"), TOUCHLINE_WORKER_GROUP=group,
                   TOUCHLINE_KEY_STORE=f"sqlite://{data / 'privacy.sqlite3'}",
                   TOUCHLINE_ROOT_KEY_FILE=str(data / "root.key"))  # fmt: skip
    asyncio.run(start_group_at_end(bootstrap, group, [TOUCHPOINTS, RESOLVED, IDENTITY_COMMANDS]))
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen([TOUCHLINE, "worker", "--loglevel", "warning"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    yield group
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def caught_up(bootstrap: str, group: str) -> None:
    """Every partition at most 1 behind: ingest writes in transactions, and the commit marker
    after a transaction's last record takes an offset the worker never commits past (a
    partition with a transaction still to process is at least 2 behind: a record and its marker)."""

    def behind() -> int:
        found = asyncio.run(_lag(bootstrap, group))
        return 2 if found is None else max(found.values(), default=0)

    wait_until(lambda: behind() <= 1, 240, "the worker to catch up", 0.5)


async def _lag(bootstrap: str, group: str) -> dict[Any, int] | None:
    probe = LagProbe(bootstrap, group, [TOUCHPOINTS, RESOLVED])
    try:
        return await probe.by_partition()
    finally:
        await probe.stop()


def resolved(api: ApiServer, since: Any, tenant: str) -> list[SourceRecord]:
    bootstrap = api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]
    return [SourceRecord(RESOLVED, r.partition, r.offset, r.key, r.value, r.timestamp)
            for r in asyncio.run(read_since(bootstrap, since, RESOLVED))
            if orjson.loads(r.value).get("tenant") == tenant]  # fmt: skip


def customers_of(api: ApiServer, since: Any, tenant: str) -> set[frozenset[tuple[str, str]]]:
    """Each resolved customer of ``tenant`` as the identifiers its touchpoints carried."""
    records = resolved(api, since, tenant)
    protector = open_protector(Settings.from_env(api.env))
    assert protector is not None
    rejected: list[Rejected] = []
    opened = [orjson.loads(r.value) for r in Opener(protector).resolved(records, rejected)]
    assert not rejected
    by_customer: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for event in opened:
        by_customer[event["customer_id"]] |= set(event["identities"].items())
    return {frozenset(ids) for ids in by_customer.values()}


def test_csv_and_xlsx_resolve_to_the_same_customers_and_again_changes_nothing(
    api: ApiServer, worker: str, tmp_path: Path
) -> None:
    bootstrap = api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]
    csv_path, xlsx_path = write_files(tmp_path)
    since = {t: asyncio.run(end_offsets(bootstrap, t)) for t in (RESOLVED, CUSTOMERS)}
    tenants = {}
    for path in (csv_path, xlsx_path):
        tenant = tenants[path.suffix] = random_tenant()
        key = api.key(tenant)
        assert imported(api, key, path.name, path.read_bytes(), source="crm")["status"] == "done"
    wait_until(lambda: all(len(resolved(api, since[RESOLVED], t)) == 4 for t in tenants.values()),
               240, "both tenants' four events to be resolved", 0.5)  # fmt: skip
    caught_up(bootstrap, worker)
    from_csv = customers_of(api, since[RESOLVED], tenants[".csv"])
    assert from_csv == customers_of(api, since[RESOLVED], tenants[".xlsx"])
    assert {dict(c)["customer_ref"] for c in from_csv} == {"A001", "A002"}  # A003 was refused
    hanako = next(dict(c) for c in from_csv if dict(c)["customer_ref"] == "A001")
    assert hanako == {"customer_ref": "A001", "email": "hanako@example.jp", "phone": "+819012345678"}  # fmt: skip

    resolved_end = asyncio.run(end_offsets(bootstrap, RESOLVED))
    customers_end = asyncio.run(end_offsets(bootstrap, CUSTOMERS))
    again = imported(api, api.key(tenants[".csv"]), csv_path.name, csv_path.read_bytes(), source="crm")  # fmt: skip
    assert again["status"] == "done" and again["progress"]["rows_imported"] == 3
    caught_up(bootstrap, worker)
    for topic, end in ((RESOLVED, resolved_end), (CUSTOMERS, customers_end)):
        later = [orjson.loads(r.value) for r in asyncio.run(read_since(bootstrap, end, topic))]
        assert not [v for v in later if v.get("tenant") == tenants[".csv"]], topic
