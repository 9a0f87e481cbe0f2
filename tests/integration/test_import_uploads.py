"""``POST /v1/imports`` over HTTP against the real broker: jobs, their reports, hostile uploads."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from tests.integration.test_imports import write_files
from tests.support import (
    ApiServer,
    base_env,
    cli,
    end_offsets,
    random_tenant,
    read_since,
    start_api,
)

pytestmark = pytest.mark.integration
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(
    api: ApiServer, key: str, name: str, content: bytes, **fields: str | tuple[str, bytes]
) -> httpx.Response:
    files: dict[str, Any] = {"file": (name, content)}
    data = {"kind": "customers"}
    for field, value in fields.items():
        if isinstance(value, tuple):
            files[field] = value
        else:
            data[field] = value
    return httpx.post(api.url + "/v1/imports", files=files, data=data,
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)  # fmt: skip


def job(api: ApiServer, key: str, job_id: str, path: str = "") -> httpx.Response:
    return httpx.get(f"{api.url}/v1/imports/{job_id}{path}",
                     headers={"Authorization": f"Bearer {key}"}, timeout=10)  # fmt: skip


def finished(api: ApiServer, key: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = job(api, key, job_id).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def imported(api: ApiServer, key: str, name: str, content: bytes, **fields: Any) -> dict[str, Any]:
    response = upload(api, key, name, content, **fields)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/imports/{response.json()['job_id']}"
    return finished(api, key, response.json()["job_id"])


def logged(api: ApiServer, since: Any, tenant: str) -> list[dict[str, Any]]:
    """The tenant's records written since ``since``, opened with the server's keys."""
    bootstrap = api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]
    values = [orjson.loads(r.value) for r in asyncio.run(read_since(bootstrap, since))]
    mine = [v for v in values if v["tenant"] == tenant]
    protector = open_protector(Settings.from_env(api.env))
    assert protector is not None
    return [opened.envelope for opened in protector.open_batch(mine)]


def report_lines(api: ApiServer, key: str, job_id: str) -> list[list[str]]:
    response = job(api, key, job_id, "/report")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_an_upload_imports_as_the_command_does_and_again_changes_nothing(
    api: ApiServer, tmp_path: Path
) -> None:
    tenant = random_tenant()
    key = api.key(tenant)
    csv_path, xlsx_path = write_files(tmp_path)
    since = asyncio.run(end_offsets(api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]))

    first = imported(api, key, "顧客.csv", csv_path.read_bytes(), source="crm-import")
    assert first["status"] == "done", first
    assert first["progress"] == {"rows_read": 4, "rows_imported": 3, "rows_failed": 1,
                                 "duplicate_rows": 1, "events_sent": 4}  # fmt: skip
    assert any("cp932" in note for note in first["notes"])
    assert any("preset auto: japanese" in note for note in first["notes"])
    lines = report_lines(api, key, first["job_id"])
    assert lines[0] == ["row", "column", "problem"]
    assert sorted((line[0], line[1]) for line in lines[1:]) == [
        ("5", "メールアドレス"), ("5", "都道府県"), ("5", "電話番号")]  # fmt: skip
    events = logged(api, since, tenant)
    assert sorted(e["type"] for e in events) == ["consent.granted", "consent.withdrawn",
                                                 "customer.profile_updated", "customer.profile_updated"]  # fmt: skip
    assert all(e["source"] == "crm-import" for e in events)
    assert not any(b"Hanako" in orjson.dumps(v) for v in _raw(api, since, tenant))  # sealed

    # the same data as Excel, and the CSV once more: the same event ids, so nothing new
    again = imported(api, key, "顧客.xlsx", xlsx_path.read_bytes(), source="crm-import")
    assert again["status"] == "done" and any("Excel" in n for n in again["notes"])
    assert again["progress"] == first["progress"]
    third = imported(api, key, "顧客.csv", csv_path.read_bytes(), source="crm-import")
    assert third["progress"] == first["progress"]
    assert sorted(e["event_id"] for e in logged(api, since, tenant)) == sorted(
        e["event_id"] for e in events
    )  # ingest kept one of each id: the uploads gave the same ids


def test_csv_and_xlsx_uploads_give_the_same_customers(api: ApiServer, tmp_path: Path) -> None:
    """Two tenants, one file each way: every event the same but for its tenant-bound id."""
    csv_path, xlsx_path = write_files(tmp_path)
    bootstrap = api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]
    outcomes = []
    for path in (csv_path, xlsx_path):
        tenant, since = random_tenant(), asyncio.run(end_offsets(bootstrap))
        key = api.key(tenant)
        assert imported(api, key, path.name, path.read_bytes(), source="crm")["status"] == "done"
        outcomes.append(sorted(_comparable(e) for e in logged(api, since, tenant)))
    assert outcomes[0] == outcomes[1] and len(outcomes[0]) == 4


def test_a_file_without_a_time_column_imports_the_same_twice(api: ApiServer) -> None:
    """No updated_at: the first upload of the same bytes sets occurred_at for every later one."""
    tenant = random_tenant()
    key = api.key(tenant)
    content = b"Customer ID,First Name,Last Name,Email\nC1,Liam,Johnson,liam@example.com\n"
    since = asyncio.run(end_offsets(api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]))
    first = imported(api, key, "crm.csv", content)
    time.sleep(1.1)  # a later second: a clock-based occurred_at would differ
    second = imported(api, key, "crm.csv", content)
    assert first["as_of"] == second["as_of"]
    [event] = logged(api, since, tenant)
    assert event["occurred_at"] == first["as_of"] and event["source"] == "import:crm.csv"


def test_declared_attributes_are_typed_and_bad_rows_reported(api: ApiServer) -> None:
    tenant = random_tenant()
    key = api.key(tenant)
    cli(api.env, "attributes", "declare", "tier", "enum", "--values", "gold", "silver",
        "--tenant", tenant)  # fmt: skip
    cli(api.env, "attributes", "declare", "points", "integer", "--tenant", tenant)
    mapping = ('[columns]\n"ID" = "customer_ref"\n"Email" = "email"\n"Tier" = "attributes.tier"\n'
               '"Points" = "attributes.points"\n"Colour" = "attributes.colour"\n')  # fmt: skip
    content = (b"ID,Email,Tier,Points,Colour\nC1,a@example.com,GOLD,\"1,200\",\n"
               b"C2,b@example.com,bronze,5,\nC3,c@example.com,silver,many,\n"
               b"C4,d@example.com,gold,7,red\n")  # fmt: skip
    since = asyncio.run(end_offsets(api.env["TOUCHLINE_KAFKA_BOOTSTRAP"]))
    done = imported(api, key, "tiers.csv", content, mapping=("tiers.toml", mapping.encode()))
    assert done["progress"]["rows_imported"] == 1 and done["progress"]["rows_failed"] == 3
    lines = {(row, column): why for row, column, why in report_lines(api, key, done["job_id"])[1:]}
    assert set(lines) == {("3", "Tier"), ("4", "Points"), ("5", "Colour")}
    assert "not one of tier's values" in lines[("3", "Tier")]
    assert "not declared" in lines[("5", "Colour")]
    [event] = logged(api, since, tenant)
    assert event["payload"]["attributes"] == {"tier": "gold", "points": 1200}


def test_another_tenants_job_and_report_are_not_found(api: ApiServer) -> None:
    key = api.key(random_tenant())
    other = api.key(random_tenant())
    content = b"Customer ID,Email\nC1,x@example.com\n"
    done = imported(api, key, "a.csv", content)
    for path in ("", "/report"):
        response = job(api, other, done["job_id"], path)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
        assert job(api, key, done["job_id"], path).status_code == 200
    assert job(api, key, "../../etc/passwd").status_code == 404
    assert job(api, key, "0" * 32).status_code == 404
    cli(api.env, "keys", "revoke", key)
    assert job(api, key, done["job_id"]).status_code == 401  # revoked: its jobs too
    assert job(api, key, done["job_id"], "/report").status_code == 401


def test_keys_that_may_not_import_are_refused(api: ApiServer) -> None:
    tenant = random_tenant()
    content = b"Customer ID,Email\nC1,x@example.com\n"
    revoked = api.key(tenant)
    cli(api.env, "keys", "revoke", revoked)
    assert upload(api, revoked, "a.csv", content).status_code == 401
    assert upload(api, "tlp_made-up", "a.csv", content).status_code == 401
    agent = upload(api, api.key(tenant, "agent"), "a.csv", content)
    assert agent.status_code == 403 and "may not import" in agent.json()["message"]
    calls_only = upload(api, api.key(tenant, "publisher", "call.*"), "a.csv", content)
    assert calls_only.status_code == 403 and "customer.profile_updated" in calls_only.json()["message"]  # fmt: skip
    mapping = (b'type = "store.visited"\noccurred_at = "At"\n[identities]\n"ID" = "customer_ref"\n'
               b'[payload]\n"Store" = "store_id"\n')  # fmt: skip
    history = upload(api, api.key(tenant, "publisher", "customer.*"), "v.csv", b"ID,At,Store\n",
                     kind="history", mapping=("v.toml", mapping))  # fmt: skip
    assert history.status_code == 403 and "store.visited" in history.json()["message"]


@pytest.mark.parametrize(
    ("name", "content", "status", "says"),
    [
        ("a.pdf", b"%PDF-1.7 ...", 415, "expected a name ending in"),
        ("a.csv", os.urandom(2048).replace(b"\x00", b"") + b"\x00" + os.urandom(64), 422, "NUL byte"),
        ("a.xlsx", b"Customer ID,Email\nC1,x@example.com\n", 422, "not an Excel workbook"),
        ("a.xlsx", bytes.fromhex("d0cf11e0a1b11ae1") + bytes(512), 422, "old Excel (.xls)"),
        ("a.csv", b"", 422, "empty"),
    ],
)  # fmt: skip
def test_files_that_are_not_csv_or_xlsx_are_refused_saying_why(
    api: ApiServer, name: str, content: bytes, status: int, says: str
) -> None:
    response = upload(api, api.key(random_tenant()), name, content)
    assert response.status_code == status, response.text
    assert says in response.json()["message"]


def test_a_zip_that_is_no_workbook_and_an_excel_file_named_csv(api: ApiServer) -> None:
    key = api.key(random_tenant())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    response = upload(api, key, "a.xlsx", archive.getvalue())
    assert response.status_code == 422 and "Excel workbook" in response.json()["message"]
    response = upload(api, key, "a.csv", archive.getvalue())
    assert response.status_code == 422 and "upload it with an .xlsx name" in response.json()["message"]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"kind": "orders"}, "/kind"),
        ({"preset": "salesforce"}, "/preset"),
        ({"mapping": ("m.toml", b'[columns]\n"A" = "nonsense"\n')}, "/mapping"),
        ({"mapping": ("m.toml", b"not = [toml")}, "/mapping"),
        ({"kind": "history"}, "/mapping"),
        ({"as_of": "yesterday"}, "/as_of"),
        ({"encoding": "klingon"}, "/encoding"),
        ({"region": "Japan"}, "/region"),
        ({"colour": "red"}, "/colour"),
        ({"tenant": "someone-else"}, "/tenant"),
    ],
)  # fmt: skip
def test_wrong_fields_are_named(api: ApiServer, fields: dict[str, Any], pointer: str) -> None:
    response = upload(api, api.key(random_tenant()), "a.csv", b"Customer ID\nC1\n", **fields)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"] == pointer


def test_not_multipart_or_malformed_multipart(api: ApiServer) -> None:
    key = api.key(random_tenant())
    headers = {"Authorization": f"Bearer {key}"}
    raw = httpx.post(api.url + "/v1/imports", content=b"Customer ID\nC1\n", timeout=10,
                     headers={**headers, "Content-Type": "text/csv"})  # fmt: skip
    assert raw.status_code == 415 and "multipart/form-data" in raw.json()["message"]
    broken = httpx.post(api.url + "/v1/imports", content=b"--x\r\nnonsense", timeout=10,
                        headers={**headers, "Content-Type": "multipart/form-data"})  # fmt: skip
    assert broken.status_code in (400, 422), broken.text
    no_file = httpx.post(api.url + "/v1/imports", data={"kind": "customers"}, timeout=10,
                         headers=headers, files={"other": ("x", b"")})  # fmt: skip
    assert no_file.status_code == 422


def test_a_file_no_preset_knows_fails_its_job_saying_why(api: ApiServer) -> None:
    key = api.key(random_tenant())
    done = imported(api, key, "stock.csv", b"sku,qty\nA,1\n")
    assert done["status"] == "failed" and "no preset knows these columns" in done["error"]
    report = job(api, key, done["job_id"], "/report")
    assert report.status_code == 404 and "before its first row" in report.json()["message"]


@pytest.fixture(scope="module")
def small_api(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    env = base_env(kafka_bootstrap, TOUCHLINE_IMPORT_MAX_BYTES="4096")
    server = start_api(env, Path(tmp_path_factory.mktemp("small-api")))
    yield server
    server.stop()


def test_files_over_the_limit_are_refused_413(small_api: ApiServer) -> None:
    key = small_api.key(random_tenant())
    big = b"Customer ID,Email\n" + b"C1,x@example.com\n" * 20_000  # 340 kB
    declared = upload(small_api, key, "big.csv", big)
    assert declared.status_code == 413 and "TOUCHLINE_IMPORT_MAX_BYTES" in declared.json()["message"]  # fmt: skip

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncustomers\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        for _ in range(40):
            yield b"C1,x@example.com\n" * 1000
        yield b"\r\n--b--\r\n"

    streamed = httpx.post(small_api.url + "/v1/imports", content=chunks(), timeout=30,
                          headers={"Authorization": f"Bearer {key}",
                                   "Content-Type": "multipart/form-data; boundary=b"})  # fmt: skip
    assert streamed.status_code == 413
    small = upload(small_api, key, "small.csv", b"Customer ID,Email\nC1,x@example.com\n")
    assert small.status_code == 202  # the limit still lets a file under it in


def _raw(api: ApiServer, since: Any, tenant: str) -> list[dict[str, Any]]:
    values = [orjson.loads(r.value) for r in asyncio.run(read_since(api.env["TOUCHLINE_KAFKA_BOOTSTRAP"], since))]  # fmt: skip
    return [v for v in values if v["tenant"] == tenant]


def _comparable(event: dict[str, Any]) -> bytes:
    kept = {
        k: v for k, v in event.items() if k not in ("event_id", "tenant", "received_at", "subjects")
    }
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)
