"""A broker that goes away: 503 with Retry-After, nothing half-written, and recovery after.

This test runs its own broker, so stopping it does not disturb the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from services.kafka.broker import LocalKafkaBroker
from services.kafka.topics import ensure_topics
from services.platform.settings import Settings
from tests import samples
from tests.support import (
    JAR_CACHE,
    ApiServer,
    base_env,
    end_offsets,
    free_port,
    read_since,
    start_api,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafkaBroker]:
    settings = Settings.from_env(
        {
            "TOUCHLINE_DATA_DIR": str(tmp_path / "kafka"),
            "TOUCHLINE_CACHE_DIR": str(JAR_CACHE),
            "TOUCHLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
            "TOUCHLINE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "TOUCHLINE_KAFKA_PARTITIONS": "3",
        }
    )
    broker = LocalKafkaBroker(settings)
    broker.start()
    asyncio.run(ensure_topics(settings))
    yield broker
    broker.stop()


def post(api: ApiServer, key: str, body: object) -> httpx.Response:
    return httpx.post(
        api.url + "/v1/events", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def test_broker_down_gives_503_and_writes_nothing_then_recovers(
    own_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.settings.kafka_bootstrap
    api = start_api(base_env(bootstrap, TOUCHLINE_KAFKA_ACK_TIMEOUT_MS="3000"), tmp_path / "api")
    try:
        key = api.key("acme")
        since = asyncio.run(end_offsets(bootstrap))
        before = samples.batch(5)
        assert post(api, key, before).status_code == 202

        own_broker.kill()
        refused = samples.batch(5)
        response = post(api, key, refused)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert "nothing was written" in response.json()["message"]
        assert httpx.get(api.url + "/healthz", timeout=30).status_code == 503

        own_broker.start()
        after = samples.batch(5)
        wait_until(
            lambda: post(api, key, after).status_code == 202, 60, "ingest to accept again", 1.0
        )

        written = [
            orjson.loads(r.value)["event_id"] for r in asyncio.run(read_since(bootstrap, since))
        ]
        names = {
            e["event_id"]: n
            for n, batch in (("before", before), ("refused", refused), ("after", after))
            for e in batch
        }
        assert sorted(written) == sorted(e["event_id"] for e in before + after), [
            names.get(w) for w in written
        ]
        assert httpx.get(api.url + "/healthz").status_code == 200
    finally:
        api.stop()
