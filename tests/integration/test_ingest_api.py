"""The ingest API over HTTP against the real broker: what is accepted is in the log, nothing else."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from typing import Any

import httpx
import orjson
import pytest

from events.touchpoint import decode_touchpoint
from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from tests import samples
from tests.support import ApiServer, end_offsets, random_tenant, read_since

pytestmark = pytest.mark.integration


class Client:
    """Posts to the API as one tenant and reads back what reached the log."""

    def __init__(
        self, api: ApiServer, bootstrap: str, tenant: str | None = None, key: str | None = None
    ) -> None:
        self.api = api
        self.bootstrap = bootstrap
        self.tenant = tenant or random_tenant()
        self.key = key or api.key(self.tenant)
        self.since = asyncio.run(end_offsets(bootstrap))
        protector = open_protector(Settings.from_env(api.env))  # the server's keys
        assert protector is not None
        self.protector = protector

    def post(self, body: Any, key: str | None = None, raw: bytes | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}", "Content-Type": "application/json"}
        content = raw if raw is not None else orjson.dumps(body)
        return httpx.post(self.api.url + "/v1/events", content=content, headers=headers, timeout=30)

    def written(self) -> list[dict[str, Any]]:
        """This tenant's records as logged, their sealed values opened."""
        records = asyncio.run(read_since(self.bootstrap, self.since))
        values = [orjson.loads(r.value) for r in records]
        mine = [v for v in values if v["tenant"] == self.tenant]
        return [opened.envelope for opened in self.protector.open_batch(mine)]


@pytest.fixture
def client(api: ApiServer, kafka_bootstrap: str) -> Client:
    return Client(api, kafka_bootstrap)


def test_single_event_is_acknowledged_after_it_is_in_the_log(client: Client) -> None:
    event = samples.call_completed()
    response = client.post(event)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "event_ids": [event["event_id"]], "duplicates": []}
    [written] = client.written()
    assert written["event_id"] == event["event_id"]
    assert written["tenant"] == client.tenant
    assert written["identities"] == {"phone": "+14155552671"}
    assert written["occurred_at"] == "2026-11-20T00:15:00.000Z"
    assert written["channel"] == "phone"
    assert written["received_at"].endswith("Z")
    assert written["payload"] == event["payload"]


def test_record_key_is_tenant_and_primary_identity(client: Client, kafka_bootstrap: str) -> None:
    client.post(samples.chat_message(identities={"email": "A@B.example", "phone": "+14155552671"}))
    [record] = asyncio.run(read_since(kafka_bootstrap, client.since))
    subject = client.protector.subject(client.tenant, "email", "a@b.example")
    assert record.key == f"{client.tenant}|email:{subject}".encode()  # a keyed hash, no value
    assert b"a@b.example" not in record.key + record.value
    assert dict(record.headers)["type"] == b"chat.message_received"


def test_batch_is_written_whole(client: Client) -> None:
    events = samples.batch(50)
    response = client.post(events)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 50
    assert sorted(e["event_id"] for e in client.written()) == sorted(e["event_id"] for e in events)


def test_v1_purchase_is_accepted_and_read_as_v2(client: Client, kafka_bootstrap: str) -> None:
    assert client.post(samples.purchase_v1()).status_code == 202
    [record] = asyncio.run(read_since(kafka_bootstrap, client.since))
    assert orjson.loads(record.value)["schema_version"] == 1  # the log keeps what was sent
    touchpoint = decode_touchpoint(record.value)
    assert touchpoint.schema_version == 2
    assert touchpoint.payload["amount"] == "12800"
    assert touchpoint.payload["channel"] == "store"
    assert touchpoint.channel == "store"


def test_invalid_json_is_400_with_position(client: Client) -> None:
    response = client.post(None, raw=b'[{"type": "call.completed",')
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert "line 1" in response.json()["message"]
    assert client.written() == []


@pytest.mark.parametrize(
    ("event", "pointer"),
    [
        (
            samples.call_completed(
                payload={
                    "call_id": "c",
                    "direction": "inbound",
                    "duration_s": "long",
                    "disposition": "resolved",
                }
            ),
            "/payload/duration_s",
        ),
        (
            samples.without(samples.call_completed(), "payload", "disposition"),
            "/payload/disposition",
        ),
        (samples.call_completed(type="fax.received"), "/type"),
        (samples.call_completed(schema_version=7), "/schema_version"),
        (samples.call_completed(identities={"phone": "12"}), "/identities/phone"),
        (samples.call_completed(identities={}), "/identities"),
        (samples.call_completed(occurred_at="2026-02-30T00:00:00Z"), "/occurred_at"),
        (samples.call_completed(surprise=1), "/surprise"),
    ],
)
def test_schema_violations_are_422_naming_the_field(
    client: Client, event: dict[str, Any], pointer: str
) -> None:
    response = client.post(event)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {"index": 0, "pointer": pointer} == {k: errors[0][k] for k in ("index", "pointer")}
    assert client.written() == []


def test_batch_with_one_invalid_event_writes_nothing(client: Client) -> None:
    events = samples.batch(20)
    events[13]["payload"]["direction"] = "sideways"
    events[17]["type"] = "nope.never"
    response = client.post(events)
    assert response.status_code == 422
    body = response.json()
    assert {(e["index"], e["pointer"]) for e in body["errors"]} >= {
        (13, "/payload/direction"),
        (17, "/type"),
    }
    assert "nothing was written" in body["message"]
    assert client.written() == []


def test_a_hostile_batch_gets_a_short_answer_and_the_service_stays_responsive(
    client: Client, api: ApiServer
) -> None:
    """80,000 unknown identity kinds in one event (1 MB): once a 7 MB answer after seconds."""
    flood = samples.call_completed()
    flood["identities"] = {f"k{n}": "x" for n in range(80_000)}  # ~0.8 MB
    many = [samples.chat_message(payload={"chat_id": "c", "surprise": 1}) for _ in range(300)]
    answers: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(client.post(flood)))
               for _ in range(3)]  # fmt: skip
    for thread in threads:
        thread.start()
    health = httpx.get(f"{api.url}/healthz", timeout=10)  # answered while they are judged
    for thread in threads:
        thread.join(60)
    assert health.status_code == 200
    assert [a.status_code for a in answers] == [422, 422, 422]
    assert all(len(a.content) < 2_000 for a in answers), len(answers[0].content)
    assert "unknown identity kinds 'k0'" in answers[0].json()["errors"][0]["message"]
    capped = client.post(many)
    body = capped.json()
    assert capped.status_code == 422 and len(body["errors"]) == 100
    assert re.search(
        r"300 of 300 events are invalid.*the first 100 of \d+ problems", body["message"]
    )
    assert client.written() == []


def test_too_many_events_is_413(client: Client) -> None:
    response = client.post(samples.batch(1001))
    assert response.status_code == 413
    assert "1000" in response.json()["message"]
    assert client.written() == []


def test_too_many_bytes_is_413(client: Client) -> None:
    big = samples.chat_message(payload={"chat_id": "c", "text": "x" * 7000})
    response = client.post([big] * 200)  # ~1.4 MB, under the count limit
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert client.written() == []


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer tlp_not-a-real-key"])
def test_missing_or_unknown_key_is_401(client: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.post(
        client.api.url + "/v1/events", json=samples.call_completed(), headers=headers
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.written() == []


def test_revoked_key_is_401(client: Client) -> None:
    from tests.support import cli

    key = client.api.key(client.tenant)
    assert client.post(samples.call_completed(), key=key).status_code == 202
    cli(client.api.env, "keys", "revoke", key)
    assert client.post(samples.call_completed(), key=key).status_code == 401


def test_other_tenants_event_is_403_and_nothing_written(client: Client) -> None:
    events = samples.batch(3)
    events[1]["tenant"] = random_tenant()
    response = client.post(events)
    assert response.status_code == 403
    assert response.json()["errors"][0]["index"] == 1
    assert response.json()["errors"][0]["pointer"] == "/tenant"
    assert client.written() == []


def test_type_outside_the_keys_scope_is_403(api: ApiServer, kafka_bootstrap: str) -> None:
    tenant = random_tenant()
    client = Client(api, kafka_bootstrap, tenant, api.key(tenant, "publisher", "chat.*"))
    assert client.post(samples.chat_message()).status_code == 202
    response = client.post([samples.chat_message(), samples.call_completed()])
    assert response.status_code == 403
    assert response.json()["errors"] == [
        {"index": 1, "pointer": "/type", "message": "this key may publish only: chat.*"}
    ]
    assert len(client.written()) == 1


def test_agent_key_may_not_publish(api: ApiServer, kafka_bootstrap: str) -> None:
    tenant = random_tenant()
    client = Client(api, kafka_bootstrap, tenant, api.key(tenant, "agent"))
    response = client.post(samples.chat_message())
    assert response.status_code == 403
    assert "agent" in response.json()["message"]


def test_resent_event_is_acknowledged_and_written_once(client: Client) -> None:
    event = samples.call_completed()
    first = client.post(event)
    again = client.post([event, samples.chat_message(), event])
    assert first.status_code == again.status_code == 202
    assert again.json()["duplicates"] == [event["event_id"], event["event_id"]]
    ids = [e["event_id"] for e in client.written()]
    assert ids.count(event["event_id"]) == 1
    assert len(ids) == 2


def test_event_id_is_generated_when_absent(client: Client) -> None:
    event = samples.without(samples.chat_message(), "event_id")
    response = client.post(event)
    assert response.status_code == 202
    [event_id] = response.json()["event_ids"]
    assert uuid.UUID(event_id)
    assert [e["event_id"] for e in client.written()] == [event_id]


def test_health_and_openapi(api: ApiServer) -> None:
    health = httpx.get(api.url + "/healthz").json()
    assert health["kafka"] == "reachable" and set(health["stages"]) == {"worker", "projector"}
    # shared broker: other tests' workers come and go, so the stages may be up or down here
    assert health["status"] == ("ok" if all(s["state"] == "up" for s in health["stages"].values())
                                else "degraded")  # fmt: skip
    spec = httpx.get(api.url + "/openapi.json").json()
    post = spec["paths"]["/v1/events"]["post"]
    assert {"202", "400", "401", "403", "413", "422", "503"} <= set(post["responses"])
    assert "requestBody" in post
