"""A worker and a projection service for one tenant, for the merge and review tests.

Both processes share a data directory (the identity store, the keys that seal personal
data, the API keys); their consumer groups start at the topics' ends, so they see only what
the module publishes. ``System`` publishes events, sends API requests as a supervisor or an
agent, and waits on the topics and on the API (polling with a deadline).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from events.topics import CUSTOMERS, DEADLETTER, IDENTITY_COMMANDS, RESOLVED, SCORES, TOUCHPOINTS
from services.platform.settings import Settings
from services.publishing.file_publish import Line, PublishSummary, publish_kafka
from tests.support import (
    TOUCHLINE,
    base_env,
    cli,
    end_offsets,
    free_port,
    random_tenant,
    read_since,
    start_group_at_end,
    stop_processes,
    wait_until,
)


@dataclass
class System:
    bootstrap: str
    env: dict[str, str]
    tenant: str
    url: str
    supervisor: str = ""
    agent: str = ""
    since: dict[str, Any] = field(default_factory=dict)

    def publish(self, *events: dict[str, Any]) -> None:
        lines = [Line(i, {**e, "tenant": self.tenant}) for i, e in enumerate(events, 1)]
        summary = PublishSummary()
        settings = Settings.from_env(self.env)  # the worker's keys, as ingest would seal
        _run(publish_kafka(lines, self.bootstrap, self.tenant, "US", summary, settings=settings))
        assert summary.accepted == len(events), summary

    def read(self, topic: str) -> list[dict[str, Any]]:
        records = _run(read_since(self.bootstrap, self.since[topic], topic))
        values = [orjson.loads(r.value) for r in records]
        return [v for v in values if self.tenant in (v.get("tenant"),
                                                     (v.get("command") or {}).get("tenant"))]  # fmt: skip

    def wait_for(
        self, topic: str, what: str, match: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [v for v in self.read(topic) if match(v)]
            return bool(found)

        wait_until(seen, 120, what, 0.5)
        return found[-1]

    def customer_of(self, event_id: str) -> str:
        resolved = self.wait_for(RESOLVED, f"event {event_id} to resolve",
                                 lambda r: r.get("event_id") == event_id)  # fmt: skip
        return str(resolved["customer_id"])

    def api(self, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.supervisor}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kw)

    def timeline(self, customer: str) -> tuple[str, set[str]]:
        """Whom ``customer`` reads as now, and the event ids of its timeline."""
        answer = self.api("GET", f"/v1/customers/{customer}/timeline?limit=100")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body["customer_id"], {e["event_id"] for e in body["entries"]}

    def wait_api(self, what: str, check: Callable[[], bool]) -> None:
        wait_until(check, 120, what, 0.5)


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """On a thread of its own: Playwright's sync API keeps an event loop in the test's."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextmanager
def running_system(bootstrap: str, data: Path) -> Iterator[System]:
    tenant = random_tenant()
    port = free_port()
    env = base_env(bootstrap, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_QUERY_PORT=str(port),
                   TOUCHLINE_WORKER_GROUP=f"merges-{tenant}",
                   TOUCHLINE_PROJECTOR_GROUP=f"merges-projector-{tenant}",
                   TOUCHLINE_REVIEW_EVERY_S="0")  # fmt: skip
    system = System(bootstrap, env, tenant, f"http://127.0.0.1:{port}")
    system.since = {
        t: asyncio.run(end_offsets(bootstrap, t))
        for t in (TOUCHPOINTS, RESOLVED, CUSTOMERS, SCORES, DEADLETTER, IDENTITY_COMMANDS)
    }
    asyncio.run(start_group_at_end(bootstrap, f"merges-{tenant}",
                                   [TOUCHPOINTS, RESOLVED, IDENTITY_COMMANDS]))  # fmt: skip
    asyncio.run(start_group_at_end(bootstrap, f"merges-projector-{tenant}",
                                   [RESOLVED, CUSTOMERS, SCORES, DEADLETTER]))  # fmt: skip
    system.supervisor = _key(env, tenant, "supervisor")
    system.agent = _key(env, tenant, "agent")
    processes = []
    with (data / "worker.log").open("ab") as log:
        for command in (["worker", "--loglevel", "warning"], ["projector"]):
            processes.append(subprocess.Popen([TOUCHLINE, *command], env=env, stdout=log,
                                              stderr=subprocess.STDOUT))  # fmt: skip
    try:
        wait_until(lambda: _up(system.url), 120, "the projection service to answer", 0.5)
        yield system
    finally:
        stop_processes(processes)


def _key(env: dict[str, str], tenant: str, role: str) -> str:
    return cli(env, "keys", "create", "--tenant", tenant, "--role", role).stdout.strip()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def profile(
    name: tuple[str, str], postal_code: str, birthday: str, **changes: Any
) -> dict[str, Any]:
    """A ``customer.profile_updated`` from a web form (family, given; a Japanese address)."""
    import uuid

    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": "customer.profile_updated",
        "schema_version": 1,
        "occurred_at": "2026-11-20T02:00:00Z",
        "source": "web-form",
        "payload": {
            "name": {"family": name[0], "given": name[1]},
            "address": {"postal_code": postal_code, "region": "東京都", "city": "渋谷区",
                        "line1": "神南1-2-3", "country": "JP"},
            "birthday": birthday,
        },
    }  # fmt: skip
    event.update(changes)
    return event
