"""Property-based requests from each API's own OpenAPI document: no answer may be a 5xx.

Schemathesis generates requests (valid and not) for every operation of the
ingest API and the agent API, both running for real (``touchline serve`` and
``touchline projector``), with a key of the role each route needs. Bounded:
a few dozen examples per operation and no deadline, so the suite stays fast on
a loaded machine. The live stream is left out (it never ends by design).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from events.topics import CUSTOMERS, DEADLETTER, RESOLVED, SCORES
from tests.support import (
    TOUCHLINE,
    ApiServer,
    base_env,
    cli,
    free_port,
    random_tenant,
    start_group_at_end,
    wait_until,
)

pytestmark = pytest.mark.integration
BOUNDED = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _fuzz(schema: Any, headers_for: Callable[[str], dict[str, str]]) -> list[str]:
    """Every operation, its generated cases called; the operations that answered a 5xx.

    (Driven by hand: schemathesis' pytest plugin does not run under pytest 9.)
    """
    failed: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operations"
    statuses: dict[str, Counter[int]] = {}
    for operation in operations:
        seen = statuses[operation.label] = Counter()

        @given(case=operation.as_strategy())
        @BOUNDED
        def run(case: Any) -> None:
            response = case.call_and_validate(headers=headers_for(case.path),
                                              checks=[not_a_server_error], timeout=30)  # fmt: skip
            seen[response.status_code] += 1  # noqa: B023 (run() is called in this iteration)

        try:
            run()
        except Exception as exc:  # the failing case, as schemathesis reports it
            failed.append(f"{operation.label}: {str(exc)[:1500]}")
    print({label: dict(counts) for label, counts in statuses.items()})  # shown with -s
    assert all(sum(c.values()) > 0 for c in statuses.values()), statuses
    return failed


def test_the_ingest_api_never_answers_5xx(api: ApiServer) -> None:
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    publisher = {"Authorization": f"Bearer {api.key(random_tenant())}"}
    assert _fuzz(schema, lambda path: publisher) == []


class Agents:
    def __init__(self, url: str, keys: dict[str, str]) -> None:
        self.url, self.keys = url, keys

    def headers_for(self, path: str) -> dict[str, str]:
        role = ("analyst" if path.startswith("/v1/sql")
                else "operator" if path.startswith("/v1/admin") else "supervisor")  # fmt: skip
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def agents(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agents]:
    data = Path(tmp_path_factory.mktemp("properties"))
    port, group = free_port(), f"properties-{random_tenant()}"
    env = base_env(kafka_bootstrap, TOUCHLINE_DATA_DIR=str(data), TOUCHLINE_QUERY_PORT=str(port),
                   TOUCHLINE_PROJECTOR_GROUP=group)  # fmt: skip
    asyncio.run(
        start_group_at_end(kafka_bootstrap, group, [RESOLVED, CUSTOMERS, SCORES, DEADLETTER])
    )
    tenant = random_tenant()
    keys = {role: cli(env, "keys", "create", "--tenant", tenant, "--role", role).stdout.strip()
            for role in ("supervisor", "analyst")}  # fmt: skip
    keys["operator"] = cli(env, "keys", "create", "--role", "operator").stdout.strip()
    with (data / "projector.log").open("ab") as log:
        process = subprocess.Popen([TOUCHLINE, "projector"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), 120, "the agent API", 0.5)
        yield Agents(url, keys)
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_agent_api_never_answers_5xx(agents: Agents) -> None:
    schema = schemathesis.openapi.from_url(agents.url + "/openapi.json")
    assert _fuzz(schema.exclude(path_regex=r"/stream$"), agents.headers_for) == []
