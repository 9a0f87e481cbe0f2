"""Webhooks over the real pipeline: ingest, the stream worker and the projector, as processes.

A SendGrid open, a Twilio completed call, a LINE message and a Shopify order for one person
(her email on the email and the order, her phone on the call and the order, her LINE id linked
to her email by a profile the business posts: LINE names users by an opaque id only) land on
one customer's timeline, newest first by when they happened, not by when they arrived.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from events.topics import IDENTITY_COMMANDS, RESOLVED, TOUCHPOINTS
from projections.projector import SOURCES
from services.kafka.lag import commit_at_end
from tests.integration.webhook_support import CASES, Hooks
from tests.support import (
    TOUCHLINE,
    ApiServer,
    base_env,
    cli,
    free_port,
    random_tenant,
    start_api,
    stop_processes,
    wait_until,
)
from tests.unit import test_webhooks_shopify as shopify
from tests.unit import test_webhooks_twilio as twilio

pytestmark = pytest.mark.integration
EMAIL, PHONE = "hana.sato@example.org", "+14155550123"
LINE_USER = "U" + "5a1e" * 8
NOW = datetime.now(UTC).replace(microsecond=0)
#: when each happened (arrival order is sendgrid, twilio, line, shopify: the reverse)
WHEN = {"purchase.completed": NOW - timedelta(hours=4), "social.dm_received": NOW - timedelta(hours=3),
        "email.opened": NOW - timedelta(hours=2), "call.completed": NOW - timedelta(hours=1)}  # fmt: skip


@dataclass
class Stack:
    api: ApiServer
    hooks: Hooks
    query_url: str
    processes: list[subprocess.Popen[bytes]]


def _start(env: dict[str, str], data: Path, command: str) -> subprocess.Popen[bytes]:
    with (data / f"{command}.log").open("ab") as log:
        return subprocess.Popen([TOUCHLINE, command], env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("webhook-stack")
    worker_group, projector_group = f"wh-{random_tenant()}", f"whp-{random_tenant()}"
    query_port = free_port()
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_WORKER_GROUP=worker_group,
                   TOUCHLINE_PROJECTOR_GROUP=projector_group, TOUCHLINE_QUERY_PORT=str(query_port),
                   TOUCHLINE_PROJECTOR_FLUSH_MS="100")  # fmt: skip
    asyncio.run(
        commit_at_end(kafka_bootstrap, worker_group, [TOUCHPOINTS, RESOLVED, IDENTITY_COMMANDS])
    )
    asyncio.run(commit_at_end(kafka_bootstrap, projector_group, list(SOURCES)))
    api = start_api(env, data)
    processes = [_start(env, data, "worker"), _start(env, data, "projector")]
    try:
        yield Stack(api, Hooks(api, kafka_bootstrap), f"http://127.0.0.1:{query_port}", processes)
    finally:
        stop_processes(processes)
        api.stop()


def _deliveries() -> dict[str, bytes]:
    opened = {"email": EMAIL, "event": "open", "sg_event_id": uuid.uuid4().hex,
              "sg_message_id": "m1.filter0001", "timestamp": int(WHEN["email.opened"].timestamp()),
              "useragent": "Mozilla/5.0"}  # fmt: skip
    call = twilio.call("completed", CallDuration="95", From=PHONE, Caller=PHONE,
                       CallSid="CA" + uuid.uuid4().hex,
                       Timestamp=format_datetime(WHEN["call.completed"]))  # fmt: skip
    message = {"type": "message", "mode": "active", "webhookEventId": uuid.uuid4().hex,
               "timestamp": int(WHEN["social.dm_received"].timestamp() * 1000),
               "source": {"type": "user", "userId": LINE_USER}, "replyToken": "r",
               "deliveryContext": {"isRedelivery": False},
               "message": {"type": "text", "id": "468789577898262530", "text": "Is my order out?"}}  # fmt: skip
    order = {**shopify.LIVE, "id": int(uuid.uuid4().int % 10**12), "email": EMAIL, "phone": PHONE,
             "processed_at": WHEN["purchase.completed"].isoformat(),
             "created_at": WHEN["purchase.completed"].isoformat()}  # fmt: skip
    return {
        "sendgrid": orjson.dumps([opened]),
        "twilio": twilio.form(call),
        "line": orjson.dumps({"destination": "U123", "events": [message]}),
        "shopify": orjson.dumps(order),
    }


def test_four_providers_land_on_one_timeline_in_event_time_order(stack: Stack) -> None:
    tenant = random_tenant()
    for provider, body in _deliveries().items():
        case = CASES[provider]
        connector, _ = stack.hooks.connector(case, tenant)
        response = stack.hooks.post(case, connector, body, dict(case.sample_headers))
        assert response.status_code == 200, (provider, response.text)
    link = {"type": "customer.profile_updated", "schema_version": 1, "source": "crm",
            "occurred_at": (NOW - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "identities": {"email": EMAIL, "social": f"line:{LINE_USER}"},
            "payload": {"name": {"display": "Hana Sato"}, "emails": [EMAIL]}}  # fmt: skip
    publisher = stack.api.key(tenant)
    posted = httpx.post(stack.api.url + "/v1/events", content=orjson.dumps(link), timeout=30,
                        headers={"Authorization": f"Bearer {publisher}",
                                 "Content-Type": "application/json"})  # fmt: skip
    assert posted.status_code == 202, posted.text
    agent = cli(
        stack.api.env, "keys", "create", "--tenant", tenant, "--role", "agent"
    ).stdout.strip()

    def timeline() -> list[dict[str, Any]]:
        try:
            found = _get(stack, agent, "/v1/customers", query=PHONE)["results"]
            if not found:
                return []
            customer = found[0]["customer_id"]
            entries = _get(stack, agent, f"/v1/customers/{customer}/timeline", limit=50)["entries"]
        except (httpx.HTTPError, AssertionError):
            return []
        return [e for e in entries if e["type"] in WHEN]

    wait_until(lambda: len(timeline()) == len(WHEN), 180, "the four touchpoints on one timeline", 1)
    entries = timeline()
    newest_first = sorted(WHEN, key=lambda t: WHEN[t], reverse=True)
    assert [e["type"] for e in entries] == newest_first
    times = [e["occurred_at"] for e in entries]
    assert times == [WHEN[t].strftime("%Y-%m-%dT%H:%M:%S.000Z") for t in newest_first]


def _get(stack: Stack, token: str, path: str, **params: Any) -> Any:
    response = httpx.get(stack.query_url + path, params=params, timeout=10,
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()
