"""Unmerge and erasure through Kafka: ``touchline identity`` -> identity.commands -> the worker.

A real worker resolves a customer who wrongly shares a phone number, an agent
detaches the number, and the history that came with it moves to a new
customer, score included. Then the customer is erased; their next event
starts a new customer. A command that cannot apply lands on the dead-letter
topic with its reason.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from events.topics import CUSTOMERS, DEADLETTER, IDENTITY_COMMANDS, RESOLVED, SCORES, TOUCHPOINTS
from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from tests.samples import call_completed, chat_message
from tests.support import (
    TOUCHLINE,
    base_env,
    cli,
    end_offsets,
    random_tenant,
    read_since,
    start_group_at_end,
    wait_until,
)

pytestmark = pytest.mark.integration
PHONE = "+14155552671"


class Worker:
    def __init__(self, bootstrap: str, env: dict[str, str], tenant: str) -> None:
        self.bootstrap, self.env, self.tenant = bootstrap, env, tenant
        self.since = {
            t: asyncio.run(end_offsets(bootstrap, t))
            for t in (TOUCHPOINTS, RESOLVED, CUSTOMERS, SCORES, DEADLETTER)
        }

    def read(self, topic: str) -> list[dict[str, Any]]:
        records = asyncio.run(read_since(self.bootstrap, self.since[topic], topic))
        values = [orjson.loads(r.value) for r in records]
        return [
            v
            for v in values
            if self.tenant in (v.get("tenant"), v.get("command", {}).get("tenant"))
        ]

    def publish(self, *events: dict[str, Any]) -> None:
        lines = [Line(i, {**e, "tenant": self.tenant}) for i, e in enumerate(events, 1)]
        summary = PublishSummary()
        settings = Settings.from_env(self.env)  # the worker's keys, as ingest would seal
        asyncio.run(
            publish_kafka(lines, self.bootstrap, self.tenant, "US", summary, settings=settings)
        )
        assert summary.accepted == len(events), summary

    def wait_for(
        self, topic: str, what: str, match: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [v for v in self.read(topic) if match(v)]
            return bool(found)

        wait_until(seen, 120, what, 0.5)
        return found[-1]

    def latest_score(self, customer_id: str, events: int) -> dict[str, Any]:
        return self.wait_for(SCORES, f"a score over {events} events for {customer_id}",
                             lambda s: s["customer_id"] == customer_id and s["events"] == events)  # fmt: skip


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    data = tmp_path_factory.mktemp("commands")
    tenant = random_tenant()
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(data),
                   TOUCHLINE_WORKER_GROUP=f"commands-{tenant}")  # fmt: skip
    handle = Worker(kafka_bootstrap, env, tenant)
    topics = [TOUCHPOINTS, RESOLVED, IDENTITY_COMMANDS]
    asyncio.run(start_group_at_end(kafka_bootstrap, f"commands-{tenant}", topics))
    with (data / "worker.log").open("ab") as log:
        process = subprocess.Popen([TOUCHLINE, "worker", "--loglevel", "warning"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_detached_identifier_takes_its_history_to_a_new_customer(worker: Worker) -> None:
    both = chat_message(identities={"email": "ann@x.io", "phone": PHONE})
    ann_only = chat_message(identities={"email": "ann@x.io"})
    phone_only = [call_completed(identities={"phone": PHONE}) for _ in range(3)]
    worker.publish(both, ann_only, *phone_only)
    ann = worker.wait_for(RESOLVED, "ann's chat to resolve",
                          lambda r: r.get("event_id") == ann_only["event_id"])["customer_id"]  # fmt: skip
    worker.latest_score(ann, 5)

    detach = cli(worker.env, "identity", "detach", "--tenant", worker.tenant, "--kind", "phone",
                 "--value", "(415) 555-2671", "--reason", "shared office phone")  # fmt: skip
    assert detach.stdout.strip()
    detached = worker.wait_for(CUSTOMERS, "IdentityDetached on customers",
                               lambda c: c["type"] == "IdentityDetached")  # fmt: skip
    assert (detached["customer_id"], detached["data"]["kind"]) == (ann, "phone")
    split = detached["data"]["moved_to"]
    worker.latest_score(split, 3)  # the three calls; the chat with both identifiers stays
    worker.latest_score(ann, 2)

    worker.publish(chat_message(identities={"email": "ann@x.io", "phone": PHONE}))
    flagged = worker.wait_for(RESOLVED, "a chat with both identifiers after the unmerge",
                              lambda r: "merge_blocked_by_unmerge" in r.get("identity_flags", []))  # fmt: skip
    assert flagged["customer_id"] in (ann, split)


def test_a_command_that_cannot_apply_is_dead_lettered_with_its_reason(worker: Worker) -> None:
    cli(worker.env, "identity", "detach", "--tenant", worker.tenant, "--kind", "email",
        "--value", "nobody@x.io", "--reason", "typo")  # fmt: skip
    dead = worker.wait_for(DEADLETTER, "the refused command on the dead-letter topic",
                           lambda d: d.get("topic") == "identity.commands")  # fmt: skip
    assert "belongs to no customer" in dead["reason"]
    # the command names the identifier by its subject (a keyed hash): no value in clear
    protector = open_protector(Settings.from_env(worker.env))
    assert protector is not None
    assert dead["command"]["value"] == protector.subject(worker.tenant, "email", "nobody@x.io")
    assert "nobody@x.io" not in orjson.dumps(dead).decode()


def test_bad_commands_are_refused_before_they_are_sent(worker: Worker) -> None:
    refused = cli(worker.env, "identity", "detach", "--tenant", worker.tenant, "--kind", "phone",
                  "--value", "12", "--reason", "x", check=False)  # fmt: skip
    assert refused.returncode == 2 and "phone" in refused.stderr
    refused = cli(worker.env, "identity", "erase", "--tenant", worker.tenant, "--reason", "x",
                  check=False)  # fmt: skip
    assert refused.returncode == 2 and "by id, or by one identifier" in refused.stderr


def test_an_erased_customer_is_forgotten_and_comes_back_as_new(worker: Worker) -> None:
    first = chat_message(identities={"email": "bo@x.io"})
    worker.publish(first)
    bo = worker.wait_for(RESOLVED, "bo's chat to resolve",
                         lambda r: r.get("event_id") == first["event_id"])["customer_id"]  # fmt: skip
    cli(worker.env, "identity", "erase", "--tenant", worker.tenant, "--kind", "email",
        "--value", "BO@x.io", "--reason", "gdpr request 17")  # fmt: skip
    erased = worker.wait_for(CUSTOMERS, "CustomerErased on customers",
                             lambda c: c["type"] == "CustomerErased")  # fmt: skip
    assert erased["customer_id"] == bo and erased["data"]["reason"] == "gdpr request 17"
    again = chat_message(identities={"email": "bo@x.io"})
    worker.publish(again)
    back = worker.wait_for(RESOLVED, "bo's new chat to resolve",
                           lambda r: r.get("event_id") == again["event_id"])["customer_id"]  # fmt: skip
    assert back != bo
    worker.latest_score(back, 1)
