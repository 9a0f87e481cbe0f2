"""Replaying ``webhooks.raw``: the same mapping reproduces every id and adds nothing; a changed
mapping adds exactly what it adds, with ids a second replay keeps."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from services.platform.settings import Settings
from services.webhooks.delivery import RawDelivery
from services.webhooks.mapping import Collector, Mapped, event_id
from services.webhooks.registry import PROVIDERS
from services.webhooks.replay import replay
from services.webhooks.sendgrid import SendGrid
from tests.integration.webhook_support import CASES, Hooks
from tests.support import ApiServer, cli
from tests.unit import test_webhooks_sendgrid as sendgrid

pytestmark = pytest.mark.integration
RESUBSCRIBE = "s8baRlfcA4FmfU83dW1Zmg=="  # the sample's group_resubscribe


class SendGridWithResubscribes(SendGrid):
    """A changed mapping: a group_resubscribe grants email marketing again."""

    mapping_version = "sendgrid-2"

    def map(self, delivery: RawDelivery, checked: bool = True) -> Mapped:
        base = super().map(delivery, checked)
        out = Collector(delivery, self.mapping_version, checked)
        for item in orjson.loads(delivery.body):
            if item.get("event") == "group_resubscribe":
                consent: dict[str, Any] = {"channel": "email", "purpose": "marketing",
                                           "address": item["email"],
                                           "proof": {"text": "resubscribed",
                                                     "captured_by": "sendgrid"}}  # fmt: skip
                out.add("consent.granted", item["sg_event_id"], sendgrid.RECEIVED,
                        {"email": item["email"]}, consent)  # fmt: skip
        added = out.result()
        kept = tuple(u for u in base.unmapped if u.kind != "group_resubscribe")
        return Mapped(self.mapping_version, base.envelopes + added.envelopes, kept)


@pytest.fixture(scope="module")
def hooks(api: ApiServer, kafka_bootstrap: str) -> Hooks:
    return Hooks(api, kafka_bootstrap)


def test_a_replay_reproduces_the_ids_and_adds_only_what_the_change_adds(hooks: Hooks) -> None:
    case = CASES["sendgrid"]
    connector, tenant = hooks.connector(case)
    start = hooks.since()
    assert hooks.post(case, connector, case.sample).status_code == 200
    assert hooks.post(case, connector, case.sample).status_code == 200  # a provider's retry
    received = {e["event_id"] for e in hooks.touchpoints(start, tenant)}
    settings = Settings.from_env(hooks.api.env)

    since = hooks.since()
    same = asyncio.run(replay(settings, connector))
    assert (same.deliveries, same.repeats, same.published) == (1, 1, 0)
    assert same.reproduced == len(hooks.expected(case, connector, case.sample))
    assert same.unmapped["sendgrid:group_resubscribe"] == 1
    assert hooks.touchpoints(since, tenant) == []

    changed = {**PROVIDERS, "sendgrid": SendGridWithResubscribes()}
    first = asyncio.run(replay(settings, connector, changed))
    new_id = event_id("sendgrid", connector, RESUBSCRIBE, "consent.granted")
    assert first.published_ids == [new_id]
    assert first.reproduced == same.reproduced
    [added] = hooks.touchpoints(since, tenant)
    assert (added["event_id"], added["type"]) == (new_id, "consent.granted")
    assert added["identities"] == {"email": "example@test.com"}
    assert new_id not in received

    again = asyncio.run(replay(settings, connector, changed, dry_run=True))
    assert again.published_ids == [new_id]  # the same id: downstream keeps one


def test_the_command_replays_one_connector_or_all(hooks: Hooks) -> None:
    case = CASES["line"]
    connector, _ = hooks.connector(case)
    assert hooks.post(case, connector, case.sample).status_code == 200
    done = cli(hooks.api.env, "webhooks", "replay", "--connector", connector)
    assert "deliveries 1 " in done.stdout
    assert "new 0," in done.stdout
    assert cli(hooks.api.env, "webhooks", "replay", "--all", "--dry-run").returncode == 0
    refused = cli(hooks.api.env, "webhooks", "replay", check=False)
    assert refused.returncode == 2  # one of --connector or --all
