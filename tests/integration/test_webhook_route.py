"""``POST /v1/webhooks/{provider}/{connector_id}`` on a served ingest against the real broker.

Per provider, its documented sample: signature accepted, the touchpoints its mapping gives
logged for the connector's tenant with the raw delivery beside them; a tampered body 401 with
nothing kept; a retry one touchpoint; a type nobody maps kept, counted and reported.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from services.webhooks.mapping import event_id
from tests.integration.webhook_support import CASES, SENDGRID_KEY, Case, Hooks, normalized
from tests.support import ApiServer, cli
from tests.unit import test_webhooks_sendgrid as sendgrid

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hooks(api: ApiServer, kafka_bootstrap: str) -> Hooks:
    return Hooks(api, kafka_bootstrap)


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_a_signed_sample_is_logged_as_its_mapping_says(hooks: Hooks, case: Case) -> None:
    connector, tenant = hooks.connector(case)
    since = hooks.since()
    response = hooks.post(case, connector, case.sample)
    assert response.status_code == 200, response.text
    expected = hooks.expected(case, connector, case.sample)
    assert expected, "the sample maps to touchpoints"
    written = {e["event_id"]: e for e in hooks.touchpoints(since, tenant)}
    assert sorted(written) == sorted(expected)
    for event_id_, envelope in expected.items():
        logged = written[event_id_]
        assert logged["tenant"] == tenant  # the connector's, never the payload's
        assert (logged["type"], logged["payload"]) == (envelope["type"], envelope["payload"])
        assert logged["occurred_at"] == envelope["occurred_at"]
        assert logged["identities"] == normalized(envelope["identities"])
    [raw] = hooks.raw(since, tenant)
    assert raw.delivery is not None and raw.delivery.body == case.sample  # byte for byte
    assert sorted(raw.event_ids) == sorted(expected)
    if case.provider != "twilio":
        assert response.json()["accepted"] == len(expected)
    else:
        assert response.headers["content-type"].startswith("application/xml")
        assert response.headers["X-Touchline-Accepted"] == str(len(expected))


def test_a_tampered_body_is_401_and_nothing_is_kept(hooks: Hooks, case: Case) -> None:
    connector, tenant = hooks.connector(case)
    since = hooks.since()
    url = hooks.url(case.provider, connector)
    headers = {"Content-Type": case.content_type, **hooks.headers_for(case, case.sample),
               **case.sign(case.sample, case.secret, url)}  # fmt: skip
    tampered = case.sample.replace(b"1", b"2", 1)
    response = httpx.post(url, content=tampered, headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "bad_signature"
    unsigned = {"Content-Type": case.content_type, **hooks.headers_for(case, case.sample)}
    response = httpx.post(url, content=case.sample, headers=unsigned, timeout=30)
    assert response.status_code == 401
    assert "missing" in response.json()["message"]
    assert hooks.touchpoints(since, tenant) == []
    assert hooks.raw(since, tenant) == []


def test_a_retried_delivery_gives_one_touchpoint(hooks: Hooks, case: Case) -> None:
    connector, tenant = hooks.connector(case)
    since = hooks.since()
    first = hooks.post(case, connector, case.sample)
    again = hooks.post(case, connector, case.sample)
    assert (first.status_code, again.status_code) == (200, 200)
    expected = hooks.expected(case, connector, case.sample)
    ids = [e["event_id"] for e in hooks.touchpoints(since, tenant)]
    assert sorted(ids) == sorted(expected)  # each once
    if case.provider != "twilio":
        assert sorted(again.json()["duplicates"]) == sorted(expected)
    assert len(hooks.raw(since, tenant)) == 2  # both deliveries kept, as received


def test_a_type_nobody_maps_is_kept_counted_and_reported(hooks: Hooks, case: Case) -> None:
    connector, tenant = hooks.connector(case)
    since = hooks.since()
    labels = {"provider": case.provider, "kind": case.unknown_kind}
    before = hooks.metric("touchline_webhook_unmapped_total", **labels)
    response = hooks.post(case, connector, case.unknown)
    assert response.status_code == 200, response.text
    if case.provider == "twilio":
        assert response.headers["X-Touchline-Unmapped"] == "1"
    else:
        unmapped = response.json()["unmapped"]
        assert [u["kind"] for u in unmapped] == [case.unknown_kind]
        assert response.json()["accepted"] == 0
    assert hooks.touchpoints(since, tenant) == []
    [raw] = hooks.raw(since, tenant)
    assert raw.delivery is not None and raw.delivery.body == case.unknown
    assert hooks.metric("touchline_webhook_unmapped_total", **labels) == before + 1


# -- refusals (SendGrid stands for all: the checks before the signature are the route's) -----


def test_unknown_provider_connector_or_another_providers_connector_is_404(hooks: Hooks) -> None:
    case = CASES["sendgrid"]
    line_connector, _ = hooks.connector(CASES["line"])
    for provider, connector, code in (("mailchimp", "x", "unknown_provider"),
                                      ("sendgrid", "no-such-connector", "unknown_connector"),
                                      ("sendgrid", line_connector, "unknown_connector")):  # fmt: skip
        url = hooks.url(provider, connector)
        response = httpx.post(url, content=case.sample, headers={"Content-Type": "application/json",
                              **case.sign(case.sample, case.secret, url)}, timeout=30)  # fmt: skip
        assert (response.status_code, response.json()["error"]) == (404, code)


def test_a_revoked_connector_is_410_and_keeps_nothing(hooks: Hooks) -> None:
    case = CASES["sendgrid"]
    connector, tenant = hooks.connector(case)
    cli(hooks.api.env, "connectors", "remove", connector)
    since = hooks.since()
    response = hooks.post(case, connector, case.sample)
    assert (response.status_code, response.json()["error"]) == (410, "connector_revoked")
    assert hooks.raw(since, tenant) == []


def test_wrong_body_type_is_415_and_a_huge_body_413(hooks: Hooks) -> None:
    case = CASES["sendgrid"]
    connector, _ = hooks.connector(case)
    response = hooks.post(case, connector, case.sample, {"Content-Type": "text/plain"})
    assert (response.status_code, response.json()["error"]) == (415, "unsupported_media_type")
    huge = b"[" + b" " * 1_100_000 + b"]"
    response = hooks.post(case, connector, huge)
    assert (response.status_code, response.json()["error"]) == (413, "body_too_large")
    twilio_connector, _ = hooks.connector(CASES["twilio"])
    response = hooks.post(CASES["twilio"], twilio_connector, b"{}", {"Content-Type": "text/xml"})
    assert response.status_code == 415


def test_a_stale_sendgrid_signature_is_401(hooks: Hooks) -> None:
    case = CASES["sendgrid"]
    connector, tenant = hooks.connector(case)
    since = hooks.since()
    old = sendgrid.signed(
        SENDGRID_KEY,
        case.sample,
        datetime.now(UTC) - timedelta(minutes=10),
    )
    response = httpx.post(hooks.url("sendgrid", connector), content=case.sample,
                          headers={"Content-Type": "application/json", **old}, timeout=30)  # fmt: skip
    assert response.status_code == 401
    assert "stale or replayed" in response.json()["message"]
    assert hooks.raw(since, tenant) == []


def test_the_tenant_is_the_connectors_whatever_the_payload_says(hooks: Hooks) -> None:
    case = CASES["sendgrid"]
    connector, tenant = hooks.connector(case)
    victim, _ = hooks.connector(CASES["line"])
    since = hooks.since()
    event = {**sendgrid.COMMON, "event": "delivered", "sg_event_id": "dGVuYW50LXRlc3Q=",
             "tenant": "victim", "connector_id": victim}  # fmt: skip
    body = orjson.dumps([event])
    assert hooks.post(case, connector, body).status_code == 200
    [written] = hooks.touchpoints(since, tenant)
    assert written["event_id"] == event_id("sendgrid", connector, event["sg_event_id"],
                                           "email.delivered")  # fmt: skip
