"""Session fixtures: one real Kafka broker (or the one at TOUCHLINE_KAFKA_BOOTSTRAP) and one API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.kafka.broker import LocalKafkaBroker
from services.kafka.topics import ensure_topics
from services.platform.settings import Settings
from tests.support import JAR_CACHE, ApiServer, base_env, free_port, start_api


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The broker tests talk to: started once for the session unless one is given."""
    given = os.environ.get("TOUCHLINE_KAFKA_BOOTSTRAP")
    if given:
        asyncio.run(ensure_topics(Settings.from_env({"TOUCHLINE_KAFKA_BOOTSTRAP": given})))
        yield given
        return
    settings = Settings.from_env(
        {
            "TOUCHLINE_DATA_DIR": str(tmp_path_factory.mktemp("kafka")),
            "TOUCHLINE_CACHE_DIR": str(JAR_CACHE),
            "TOUCHLINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
            "TOUCHLINE_KAFKA_CONTROLLER_PORT": str(free_port()),
        }
    )
    broker = LocalKafkaBroker(settings)
    broker.start()
    asyncio.run(ensure_topics(settings))
    yield settings.kafka_bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_api(base_env(kafka_bootstrap), Path(tmp_path_factory.mktemp("api")))
    yield server
    server.stop()
