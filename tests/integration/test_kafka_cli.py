"""``touchline kafka`` against the session broker: status, idempotent start, the topics."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from events.topics import TOUCHPOINTS
from tests.support import ApiServer, cli

pytestmark = pytest.mark.integration


def test_status_and_second_start_find_the_running_broker(
    api: ApiServer, kafka_bootstrap: str
) -> None:
    status = cli(api.env, "kafka", "status")
    assert f"at {kafka_bootstrap}" in status.stdout
    start = cli(api.env, "kafka", "start")
    assert "listening" in start.stdout or "running" in start.stdout


def test_status_of_a_stopped_broker_exits_3(api: ApiServer) -> None:
    env = {**api.env, "TOUCHLINE_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    done = cli(env, "kafka", "status", check=False)
    assert done.returncode == 3
    assert "stopped" in done.stdout


async def test_touchpoints_topic_never_expires_and_has_partitions(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([TOUCHPOINTS])
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, TOUCHPOINTS)]
        )
    finally:
        await admin.close()
    assert len(described["partitions"]) == 12
    entries = {c[0]: c[1] for c in configs[0].resources[0][4]}
    assert entries["retention.ms"] == "-1"
    assert entries["retention.bytes"] == "-1"
