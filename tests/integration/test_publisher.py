"""The Python publisher and ``touchline publish`` against the real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from events.problems import EventRejected
from services.platform.settings import Settings
from services.publishing.publisher import Publisher
from services.simulator.simulation import SimulationConfig, simulate
from tests import samples
from tests.support import ApiServer, cli, end_offsets, random_tenant, read_since

pytestmark = pytest.mark.integration


async def test_publisher_writes_validated_events_sealed_by_default(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    tenant = random_tenant()
    since = await end_offsets(kafka_bootstrap)
    events = samples.batch(30)
    events[0]["identities"] = {"email": "sealed.by.default@x.io"}
    settings = Settings.from_env({"TOUCHLINE_DATA_DIR": str(tmp_path)})  # no protector passed
    async with Publisher(kafka_bootstrap, tenant, compression="zstd", settings=settings) as pub:
        ids = await pub.publish_many(events)
        one = await pub.publish(samples.without(samples.chat_message(), "event_id"))
    records = await read_since(kafka_bootstrap, since)
    written = [orjson.loads(r.value) for r in records]
    assert sorted(e["event_id"] for e in written) == sorted([*ids, one])
    assert {e["tenant"] for e in written} == {tenant}
    assert ids == [e["event_id"] for e in events]
    assert not any(b"sealed.by.default" in r.value + (r.key or b"") for r in records)


async def test_publisher_refuses_the_batch_before_sending_anything(kafka_bootstrap: str) -> None:
    since = await end_offsets(kafka_bootstrap)
    events = samples.batch(10)
    events[6]["payload"] = {}
    settings = Settings.from_env({"TOUCHLINE_ENCRYPT_PII": "off"})
    async with Publisher(kafka_bootstrap, random_tenant(), settings=settings) as publisher:
        with pytest.raises(EventRejected) as refused:
            await publisher.publish_many(events)
    assert refused.value.index == 6
    assert any(p.pointer == "/payload/call_id" for p in refused.value.problems)
    assert await read_since(kafka_bootstrap, since) == []


def test_publish_file_over_http_accounts_for_every_line(
    api: ApiServer, kafka_bootstrap: str, tmp_path: Path
) -> None:
    tenant = random_tenant()
    sim = simulate(
        SimulationConfig(customers=40, seed=11, tenant=tenant), datetime(2026, 11, 1, tzinfo=UTC)
    )
    path = tmp_path / "events.ndjson"
    lines = [orjson.dumps(e) for e in sim.events] + [b'{"not json']
    path.write_bytes(b"\n".join(lines) + b"\n")
    since = asyncio.run(end_offsets(kafka_bootstrap))

    done = cli(api.env, "publish", str(path), "--key", api.key(tenant), "--url", api.url,
               "--batch", "200", check=False)  # fmt: skip

    assert done.returncode == 1, "a file with rejected lines is not a published file"
    assert "not every line was published" in done.stderr

    valid, dups, invalid = sim.stats["valid"], sim.stats["duplicates"], sim.stats["invalid"]
    assert (
        f"accepted {valid + dups} (of which {dups} duplicates), rejected {invalid + 1}"
        in done.stderr
    )
    assert f"line {len(lines)}: invalid JSON" in done.stderr
    written = [
        orjson.loads(r.value)["event_id"] for r in asyncio.run(read_since(kafka_bootstrap, since))
    ]
    assert len(written) == len(set(written)) == valid


def test_publish_file_straight_to_kafka(
    kafka_bootstrap: str, api: ApiServer, tmp_path: Path
) -> None:
    tenant = random_tenant()
    path = tmp_path / "events.ndjson"
    events = samples.batch(12)
    events[4]["type"] = "fax.received"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    since = asyncio.run(end_offsets(kafka_bootstrap))
    done = cli(api.env, "publish", str(path), "--kafka", "--tenant", tenant, check=False)
    assert done.returncode == 1
    assert "accepted 11 (of which 0 duplicates), rejected 1" in done.stderr
    assert "line 5: event 0: /type: unknown event type 'fax.received'" in done.stderr
    written = [orjson.loads(r.value) for r in asyncio.run(read_since(kafka_bootstrap, since))]
    assert len(written) == 11 and {e["tenant"] for e in written} == {tenant}


def test_publish_exits_zero_when_every_line_is_accepted_and_names_the_import_for_spreadsheets(
    kafka_bootstrap: str, api: ApiServer, tmp_path: Path
) -> None:
    tenant = random_tenant()
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in samples.batch(3)))
    assert cli(api.env, "publish", str(path), "--kafka", "--tenant", tenant).returncode == 0
    sheet = tmp_path / "customers.csv"
    sheet.write_text("name,email\nAi,ai@example.com\n")
    done = cli(api.env, "publish", str(sheet), "--kafka", "--tenant", tenant, check=False)
    assert done.returncode == 2
    assert "touchline import customers" in done.stderr and "invalid JSON" not in done.stderr
