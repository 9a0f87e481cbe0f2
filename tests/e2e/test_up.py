"""``touchline up`` from nothing: its own broker, the API, demo traffic; Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path

import httpx
import orjson

from services.kafka.broker import port_open
from services.kafka.topics import RESOLVED
from tests import samples
from tests.support import TOUCHLINE, base_env, free_port, read_since, wait_until


def test_up_runs_broker_api_and_demo_traffic(tmp_path: Path) -> None:
    kafka_port, http_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    env = base_env(
        bootstrap,
        TOUCHLINE_DATA_DIR=str(tmp_path / "data"),
        TOUCHLINE_HTTP_PORT=str(http_port),
        TOUCHLINE_KAFKA_CONTROLLER_PORT=str(free_port()),
    )
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [TOUCHLINE, "up", "--demo-customers", "15"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "demo history:" in log.read_text(), 120, "the demo history to be published", 0.5
        )
        key = re.search(r"demo publisher key for tenant 'demo': (\S+)", log.read_text())
        assert key, log.read_text()
        url = f"http://127.0.0.1:{http_port}"
        headers = {"Authorization": f"Bearer {key.group(1)}"}

        event = samples.call_completed()
        accepted = httpx.post(f"{url}/v1/events", json=event, headers=headers)
        assert accepted.status_code == 202, accepted.text
        refused = httpx.post(
            f"{url}/v1/events", json=samples.without(event, "payload", "call_id"), headers=headers
        )
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["pointer"] == "/payload/call_id"

        written = [orjson.loads(r.value) for r in asyncio.run(read_since(bootstrap, {}))]
        assert event["event_id"] in {e["event_id"] for e in written}
        assert sum(1 for e in written if e["source"] != "pbx") > 100  # the demo history

        def resolved() -> list[dict[str, object]]:
            return [orjson.loads(r.value) for r in asyncio.run(read_since(bootstrap, {}, RESOLVED))]

        wait_until(
            lambda: len(resolved()) > 100, 120, "the stream worker to resolve the demo history", 2.0
        )
        assert all(r["customer_id"] for r in resolved() if "event_id" in r)
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
    assert up.returncode == 0, log.read_text()[-3000:]
    assert not port_open("127.0.0.1", kafka_port), "up should stop the broker it started"
