"""Segments over real chDB and the real broker: membership that follows the data, with reasons.

Touchpoint and customer rows are written to the store as the projector writes them and
announced to the refresher through its projector sink (``SegmentTrigger``), as a flush
does; the refresher publishes each entry and exit on the real ``segments`` topic; a real
``Projector`` projects them into ``segment_changes`` and ``segment_members``. The routes
run in the same event loop over ASGI, with real SQLite keys.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from events.topics import SEGMENTS
from projections.migrations import apply_migrations
from projections.projector import Projector, ProjectorConfig
from projections.rows import CUSTOMERS_SCHEMA, IDENTITIES_SCHEMA, TOUCHPOINTS_SCHEMA
from projections.segments.definitions import SqliteSegmentStore
from projections.segments.reads import member_segments
from projections.store import ProjectionStore, open_projection_store
from services.auth.sqlite import SqliteKeyStore
from services.platform.settings import Settings
from services.query.audit import AuditLog
from services.query.errors import install_error_handlers
from services.query.segments_api import segments_router
from services.segments.publishing import KafkaSegmentPublisher
from services.segments.refresher import SegmentRefresher, SegmentTrigger
from tests.support import random_tenant, start_group_at_end

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)
OPENED_NOT_BOUGHT = {"all": [
    {"touchpoints": {"type": "email.opened", "channel": "email", "within_days": 30}, "op": "gte", "value": 1},
    {"touchpoints": {"type": "purchase.completed", "within_days": 30}, "op": "eq", "value": 0},
]}  # fmt: skip


@dataclass
class World:
    store: ProjectionStore
    client: httpx.AsyncClient
    refresher: SegmentRefresher
    trigger: SegmentTrigger
    audit: AuditLog
    keys: SqliteKeyStore
    tenant: str

    def key(self, role: str = "analyst", tenant: str | None = None) -> dict[str, str]:
        token = self.keys.create(tenant or self.tenant, role)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    def customer(self, n: int) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tenant}/customer/{n}"))

    def add_customers(self, *people: int) -> None:
        rows = [{"tenant": self.tenant, "customer_id": self.customer(n), "version": 1,
                 "first_seen": NOW - timedelta(days=90), "identities": [("email", [f"p{n}@x.example"])],
                 "consent": [], "survivor_id": self.customer(n), "erased": False, "updated_at": NOW}
                for n in people]  # fmt: skip
        self._flush("customers", pa.Table.from_pylist(rows, CUSTOMERS_SCHEMA))
        ids = [{"tenant": self.tenant, "kind": "email", "value": f"p{n}@x.example",
                "customer_id": self.customer(n), "version": 1, "linked": True, "updated_at": NOW}
               for n in people]  # fmt: skip
        self._flush("identities", pa.Table.from_pylist(ids, IDENTITIES_SCHEMA))

    def add_event(self, n: int, kind: str, channel: str, payload: dict[str, Any] | None = None,
                  days_ago: float = 1) -> None:  # fmt: skip
        row = {"tenant": self.tenant, "customer_id": self.customer(n), "event_id": str(uuid.uuid4()),
               "channel": channel, "occurred_at": NOW - timedelta(days=days_ago), "type": kind,
               "schema_version": 1, "summary": kind, "payload": json.dumps(payload or {}),
               "identities": [], "identity_flags": [], "received_at": NOW, "source": "test",
               "correlation_id": "", "conversation_id": "", "kafka_partition": 0, "kafka_offset": 0}  # fmt: skip
        self._flush("touchpoints", pa.Table.from_pylist([row], TOUCHPOINTS_SCHEMA))

    def _flush(self, table: str, rows: pa.Table) -> None:
        self.store.insert_arrow(table, rows, None)
        self.trigger.write(table, rows, "test")  # what a projector flush tells its sinks

    async def create(self, name: str, body: dict[str, Any]) -> str:
        answer = await self.client.post(
            "/v1/segments", json={"name": name, **body}, headers=self.key()
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["segment_id"])

    def changes(self, segment: str) -> list[tuple[str, str, str]]:
        return [(str(c), str(k), str(r)) for c, k, r in self.store.query_rows(
            "SELECT toString(customer_id), change, reason FROM segment_changes FINAL "
            "WHERE tenant = {t:String} AND segment_id = {s:UUID} ORDER BY changed_at, change_id",
            {"t": self.tenant, "s": segment})]  # fmt: skip


@asynccontextmanager
async def world(bootstrap: str, tmp: Path) -> AsyncIterator[World]:
    store = open_projection_store(f"chdb://{tmp / 'clickhouse'}")
    apply_migrations(store)
    keys, segments = (
        SqliteKeyStore(tmp / "keys.sqlite3"),
        SqliteSegmentStore(tmp / "segments.sqlite3"),
    )
    group = f"projector-{random_tenant()}"
    await start_group_at_end(bootstrap, group, [SEGMENTS])
    projector = Projector(store, bootstrap, ProjectorConfig(group, 1000, 0.1, topics=[SEGMENTS]))
    publisher = KafkaSegmentPublisher(bootstrap)
    await publisher.start()
    refresher = SegmentRefresher(store, segments, publisher, Settings().sql_limits(), 3600, 0.2)
    audit = AuditLog(store)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(
        segments_router(store, keys, segments, Settings().sql_limits(), audit, refresher)
    )
    tasks = [asyncio.create_task(projector.run()), asyncio.create_task(refresher.run())]
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    try:
        yield World(store, client, refresher, SegmentTrigger(refresher, asyncio.get_running_loop()),
                    audit, keys, random_tenant())  # fmt: skip
    finally:
        await client.aclose()
        await until(lambda: projector.running or tasks[0].done(), "the projector to start")
        projector.stop()
        tasks[1].cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        await publisher.stop()
        segments.close()
        keys.close()
        store.close()


async def until(
    check: Callable[[], Awaitable[bool] | bool], what: str, within_s: float = 30
) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def on_topic(bootstrap: str, tenant: str, segment: str) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(SEGMENTS, p) for p in range(Settings().kafka_partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found: list[dict[str, Any]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [b for r in records if (b := orjson.loads(r.value))["tenant"] == tenant
                          and b["segment_id"] == segment]  # fmt: skip
        return found
    finally:
        await consumer.stop()


def test_a_customer_enters_and_leaves_a_rule_segment_as_events_arrive(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with world(kafka_bootstrap, tmp_path) as w:
            w.add_customers(1, 2)
            segment = await w.create("opened-not-bought", {"rule": OPENED_NOT_BOUGHT})
            await until(lambda: w.refresher.refreshes >= 1, "the first refresh")
            assert w.changes(segment) == []
            a, b = w.customer(1), w.customer(2)
            w.add_event(1, "email.opened", "email")
            w.add_event(2, "email.opened", "email", days_ago=45)  # outside the window
            await until(lambda: len(w.changes(segment)) == 1, "the entry")
            entered = w.changes(segment)
            assert entered == [(a, "entered", entered[0][2])]
            assert entered[0][2].startswith(
                "$.all[0] (touchpoints (type email.opened, channel email)"
            )
            assert entered[0][2].endswith("became true")
            w.add_event(1, "purchase.completed", "web", {"total": "10.00"})
            await until(lambda: len(w.changes(segment)) == 2, "the exit")
            exited = w.changes(segment)[1]
            assert exited[:2] == (a, "exited") and exited[2].startswith(
                "$.all[1] (touchpoints (type purchase.completed)"
            )
            assert exited[2].endswith("became false")
            published = await on_topic(kafka_bootstrap, w.tenant, segment)
            assert [(m["customer_id"], m["change"], m["reason"]) for m in published] == w.changes(
                segment
            )
            assert [c["after"] for c in published[1]["conditions"]] == [True, False]
            members = w.store.query_rows(
                "SELECT toString(customer_id), member FROM segment_members FINAL WHERE tenant = {t:String}",
                {"t": w.tenant})  # fmt: skip
            assert members == [(a, False)] and b not in {m[0] for m in members}
            shown = (await w.client.get(f"/v1/segments/{segment}", headers=w.key())).json()
            assert shown["last_refresh"]["at"] and shown["last_refresh"]["members"] == 0

    asyncio.run(scenario())


def test_an_export_leaves_out_withdrawn_and_unknown_consent_and_counts_them(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with world(kafka_bootstrap, tmp_path) as w:
            w.add_customers(1, 2, 3, 4)
            w.add_event(1, "consent.granted", "email", {"channel": "email", "purpose": "marketing"})
            w.add_event(
                2, "consent.granted", "email", {"channel": "email", "purpose": "marketing"}, 3
            )
            w.add_event(2, "email.unsubscribed", "email", {}, 2)
            w.add_event(3, "consent.granted", "sms", {"channel": "sms", "purpose": "marketing"})
            w.add_event(4, "consent.granted", "email", {"channel": "email", "purpose": "marketing"})
            segment = await w.create("all", {"sql": "SELECT customer_id FROM customers"})
            await until(lambda: len(w.changes(segment)) == 4, "four entries")
            assert {r for _, _, r in w.changes(segment)} == {"sql refresh"}
            answer = await w.client.get(f"/v1/segments/{segment}/export",
                                        params={"channel": "email", "purpose": "marketing"},
                                        headers=w.key())  # fmt: skip
            body = answer.json()
            assert answer.status_code == 200, body
            assert [r["customer_id"] for r in body["rows"]] == sorted(
                [w.customer(1), w.customer(4)]
            )
            assert {r["address"] for r in body["rows"]} == {"p1@x.example", "p4@x.example"}
            assert body["excluded"] == {"withdrawn": 1, "unknown": 1}
            csv = await w.client.get("/v1/segments/all/export",
                                     params={"channel": "email", "purpose": "marketing", "format": "csv"},
                                     headers=w.key())  # fmt: skip
            assert csv.headers["x-touchline-excluded-withdrawn"] == "1"
            assert csv.headers["x-touchline-excluded-unknown"] == "1"
            assert (
                csv.text.splitlines()[0] == "customer_id,address"
                and len(csv.text.splitlines()) == 3
            )
            audited = w.store.query_rows(
                "SELECT what, detail, rows FROM audit_queries WHERE tenant = {t:String}",
                {"t": w.tenant},
            )
            assert audited == [("segment_export", "excluded withdrawn=1, unknown=1", 2)] * 2
            w.audit.flush()
            reads = w.store.query_rows("SELECT customer_id, what FROM audit_reads WHERE tenant = {t:String} "
                                       "ORDER BY 1", {"t": w.tenant})  # fmt: skip
            assert {(str(c), k) for c, k in reads} == {
                (w.customer(n), "segment_export") for n in (1, 4)
            }
            assert [s["name"] for s in member_segments(w.store, w.tenant, [w.customer(2)])] == [
                "all"
            ]

    asyncio.run(scenario())


def test_other_tenants_and_other_roles_cannot_reach_a_segment(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with world(kafka_bootstrap, tmp_path) as w:
            segment = await w.create("mine", {"rule": OPENED_NOT_BOUGHT})
            other = w.key(tenant=random_tenant())
            export = {"channel": "email", "purpose": "marketing"}
            assert (await w.client.get(f"/v1/segments/{segment}", headers=other)).status_code == 404
            assert (await w.client.get("/v1/segments/mine", headers=other)).status_code == 404
            assert (await w.client.get(f"/v1/segments/{segment}/export", params=export,
                                       headers=other)).status_code == 404  # fmt: skip
            assert (
                await w.client.delete(f"/v1/segments/{segment}", headers=other)
            ).status_code == 404
            assert (await w.client.get("/v1/segments", headers=other)).json() == {"segments": []}
            agent = w.key("agent")
            for call in (w.client.get("/v1/segments", headers=agent),
                         w.client.get(f"/v1/segments/{segment}/export", params=export, headers=agent),
                         w.client.post("/v1/segments/preview", json={"rule": OPENED_NOT_BOUGHT}, headers=agent)):  # fmt: skip
                assert (await call).status_code == 403
            assert (await w.client.get("/v1/segments")).status_code == 401
            assert (await w.client.get("/v1/segments/mine", headers=w.key())).status_code == 200

    asyncio.run(scenario())


def test_bad_definitions_get_422_with_the_path(kafka_bootstrap: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(kafka_bootstrap, tmp_path) as w:
            bad = {
                "all": [
                    OPENED_NOT_BOUGHT["all"][0],
                    {"rfm": "churn_risk", "op": "like", "value": "x"},
                ]
            }
            cases = [
                ({"name": "x", "rule": bad}, "$.rule.all[1].op"),
                ({"name": "x", "sql": "DROP TABLE customers"}, "$.sql"),
                ({"name": "x", "sql": "SELECT * FROM system.tables"}, "$.sql"),
                ({"name": "", "rule": OPENED_NOT_BOUGHT}, "$.name"),
                ({"name": "x", "rule": OPENED_NOT_BOUGHT, "sql": "SELECT 1"}, "$"),
            ]
            for body, path in cases:
                answer = await w.client.post("/v1/segments", json=body, headers=w.key())
                assert answer.status_code == 422, answer.text
                assert answer.json()["error"]["path"] == path
            preview = await w.client.post(
                "/v1/segments/preview", json={"sql": "SELECT 1 AS n"}, headers=w.key()
            )
            assert (
                preview.status_code == 422 and "customer_id" in preview.json()["error"]["message"]
            )
            await w.create("taken", {"rule": OPENED_NOT_BOUGHT})
            again = await w.client.post("/v1/segments", json={"name": "taken", "rule": OPENED_NOT_BOUGHT},
                                        headers=w.key())  # fmt: skip
            assert again.status_code == 409
            assert (await w.client.get("/v1/segments", headers=w.key())).json()["segments"][0][
                "name"
            ] == "taken"

    asyncio.run(scenario())
