"""Webhook connectors on a real SQLite file: tenant by URL, sealed secrets, rotation with grace."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.platform.settings import Settings
from services.webhooks.cli import add_connectors_command
from services.webhooks.connectors import ConnectorError, SqliteConnectorStore
from services.webhooks.delivery import Headers, RawDelivery
from services.webhooks.mapping import Collector, Mapped
from services.webhooks.provider import Provider
from services.webhooks.registry import PROVIDERS, UnknownProvider, provider_for, verify_with_any
from services.webhooks.sealing import AesGcmSealer, SealError, load_or_create_key
from services.webhooks.signatures import SignatureRejected

KEY = bytes(range(32))
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SENDGRID_KEY = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class ChosenByUs:
    """A provider that lets the receiver choose the secret (none of the five does)."""

    name = "forms"
    mapping_version = "forms-1"
    receiver_sets_secret = True

    def check_secret(self, secret: str) -> None:
        if len(secret) < 8:
            raise ValueError("at least 8 characters")

    def verify(self, delivery: RawDelivery, secret: str, now: datetime) -> None:
        raise SignatureRejected("not used here")

    def delivery_id(self, delivery: RawDelivery) -> str:
        return "d"

    def map(self, delivery: RawDelivery) -> Mapped:
        return Collector(delivery, self.mapping_version).result()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SqliteConnectorStore:
    providers: dict[str, Provider] = {**PROVIDERS, "forms": ChosenByUs()}
    return SqliteConnectorStore(
        tmp_path / "connectors.sqlite3", AesGcmSealer(KEY), providers, clock
    )


def test_a_connector_names_its_tenant_and_verifies_with_its_secret(
    store: SqliteConnectorStore,
) -> None:
    issued = store.add("shopify", "acme", "shpss_secret")
    assert issued.secret is None  # given, so not echoed
    connector = issued.connector
    assert (connector.provider, connector.tenant, connector.created_at) == ("shopify", "acme", T0)
    assert connector.path() == f"/v1/webhooks/shopify/{connector.connector_id}"
    credentials = store.credentials("shopify", connector.connector_id)
    assert credentials is not None
    assert (credentials.connector.tenant, credentials.secrets) == ("acme", ("shpss_secret",))


def test_ids_are_random_and_url_safe(store: SqliteConnectorStore) -> None:
    ids = {store.add("line", "acme", "secret").connector.connector_id for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) >= 24 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


def test_the_url_must_name_the_connectors_own_provider(store: SqliteConnectorStore) -> None:
    connector = store.add("line", "acme", "secret").connector
    assert store.credentials("chatwoot", connector.connector_id) is None
    assert store.credentials("line", "no-such-connector") is None


def test_secrets_are_sealed_in_the_file(store: SqliteConnectorStore, tmp_path: Path) -> None:
    store.add("twilio", "acme", "twilio-auth-token-0123456789")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("connectors"))
    assert b"twilio-auth-token-0123456789" not in raw
    assert b"acme" in raw  # the file is the one written


def test_listing_never_shows_a_secret(store: SqliteConnectorStore) -> None:
    store.add("twilio", "acme", "twilio-auth-token")
    [listed] = store.list()
    assert "twilio-auth-token" not in repr(listed)


@pytest.mark.parametrize(
    ("provider", "tenant", "secret", "message"),
    [
        ("mailchimp", "acme", "s", "provider must be one of"),
        ("line", "Acme Corp", "s", "tenant must match"),
        ("sendgrid", "acme", "not a key", "sendgrid secret: not a base64 DER"),
        ("line", "acme", "   ", "secret is empty"),
        ("twilio", "acme", None, "twilio issues the secret"),
        ("forms", "acme", "short", "at least 8"),
    ],
)
def test_bad_requests_are_refused(
    store: SqliteConnectorStore, provider: str, tenant: str, secret: str | None, message: str
) -> None:
    with pytest.raises(ConnectorError, match=message):
        store.add(provider, tenant, secret)
    assert store.list(include_revoked=True) == []


def test_a_secret_is_generated_where_the_receiver_chooses_it(store: SqliteConnectorStore) -> None:
    issued = store.add("forms", "acme")
    assert issued.secret is not None and len(issued.secret) >= 40
    credentials = store.credentials("forms", issued.connector.connector_id)
    assert credentials is not None and credentials.secrets == (issued.secret,)
    assert store.add("sendgrid", "acme", SENDGRID_KEY).secret is None


def test_a_rotation_keeps_the_old_secret_for_the_grace_period(
    store: SqliteConnectorStore, clock: Clock
) -> None:
    connector_id = store.add("line", "acme", "old-secret").connector.connector_id
    clock.now = T0 + timedelta(days=3)
    issued = store.rotate(connector_id, "new-secret", grace=timedelta(hours=2))
    assert issued.connector.rotated_at == clock.now and issued.secret is None
    credentials = store.credentials("line", connector_id)
    assert credentials is not None and credentials.secrets == ("new-secret", "old-secret")
    clock.now += timedelta(hours=2, seconds=1)
    credentials = store.credentials("line", connector_id)
    assert credentials is not None and credentials.secrets == ("new-secret",)


def test_a_delivery_signed_before_the_rotation_still_verifies(
    store: SqliteConnectorStore, clock: Clock
) -> None:
    connector_id = store.add("line", "acme", "old-secret").connector.connector_id
    body = b'{"destination":"U1","events":[]}'
    signature = base64.b64encode(hmac.digest(b"old-secret", body, hashlib.sha256)).decode()
    delivery = RawDelivery(
        "line",
        connector_id,
        "https://h/v1/webhooks/line/x",
        Headers({"X-Line-Signature": signature}),
        body,
        clock.now,
    )
    store.rotate(connector_id, "new-secret")
    credentials = store.credentials("line", connector_id)
    assert credentials is not None
    verify_with_any(provider_for("line"), delivery, credentials.secrets, clock.now)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_with_any(provider_for("line"), delivery, ("new-secret",), clock.now)
    with pytest.raises(SignatureRejected, match="no usable secret"):
        verify_with_any(provider_for("line"), delivery, (), clock.now)


def test_a_rotation_can_generate_where_the_receiver_chooses(store: SqliteConnectorStore) -> None:
    first = store.add("forms", "acme")
    second = store.rotate(first.connector.connector_id)
    assert second.secret is not None and second.secret != first.secret


def test_revoking_stops_the_connector_and_erases_its_secrets(
    store: SqliteConnectorStore, tmp_path: Path
) -> None:
    connector_id = store.add("chatwoot", "acme", "cw-secret").connector.connector_id
    store.rotate(connector_id, "cw-secret-2")
    assert store.revoke(connector_id)
    assert not store.revoke(connector_id)
    assert store.credentials("chatwoot", connector_id) is None
    assert store.list() == []
    [revoked] = store.list(include_revoked=True)
    assert not revoked.active and revoked.revoked_at == T0
    with pytest.raises(ConnectorError, match="revoked"):
        store.rotate(connector_id, "cw-secret-3")
    row = (
        sqlite3.connect(tmp_path / "connectors.sqlite3")
        .execute("SELECT secret, previous_secret FROM webhook_connectors")
        .fetchone()
    )
    assert row == (None, None)


def test_rotating_an_unknown_connector_is_refused(store: SqliteConnectorStore) -> None:
    with pytest.raises(ConnectorError, match="no connector"):
        store.rotate("nope", "secret")


def test_connectors_survive_a_reopen(tmp_path: Path, clock: Clock) -> None:
    first = SqliteConnectorStore(tmp_path / "c.sqlite3", AesGcmSealer(KEY), clock=clock)
    connector_id = first.add("shopify", "acme", "shpss").connector.connector_id
    first.close()
    again = SqliteConnectorStore(tmp_path / "c.sqlite3", AesGcmSealer(KEY), clock=clock)
    credentials = again.credentials("shopify", connector_id)
    assert credentials is not None and credentials.secrets == ("shpss",)


def test_another_sealing_key_opens_nothing(tmp_path: Path, clock: Clock) -> None:
    first = SqliteConnectorStore(tmp_path / "c.sqlite3", AesGcmSealer(KEY), clock=clock)
    connector_id = first.add("shopify", "acme", "shpss").connector.connector_id
    other = SqliteConnectorStore(tmp_path / "c.sqlite3", AesGcmSealer(bytes(32)), clock=clock)
    with pytest.raises(SealError):
        other.credentials("shopify", connector_id)


def test_a_sealed_secret_opens_only_for_its_own_connector() -> None:
    sealer = AesGcmSealer(KEY)
    sealed = sealer.seal(b"secret", b"connector-a")
    assert sealer.open(sealed, b"connector-a") == b"secret"
    with pytest.raises(SealError):
        sealer.open(sealed, b"connector-b")
    with pytest.raises(SealError):
        sealer.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"connector-a")
    assert sealer.seal(b"secret", b"connector-a") != sealed  # a fresh nonce each time


def test_the_local_key_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "webhook-seal.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and load_or_create_key(path) == key
    assert os.stat(path).st_mode & 0o777 == 0o600
    path.write_text("c2hvcnQ=\n")
    with pytest.raises(SealError, match="not a 32-byte key"):
        load_or_create_key(path)


def test_an_unknown_provider_is_named() -> None:
    with pytest.raises(UnknownProvider, match="no webhook provider 'mailchimp'"):
        provider_for("mailchimp")


# -- the command ---------------------------------------------------------------------------------


def run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="touchline")
    add_connectors_command(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args, settings)
    return code


def test_the_command_adds_lists_rotates_and_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path)
    assert (
        run(["connectors", "add", "line", "--tenant", "acme", "--secret", "line-secret"], settings)
        == 0
    )
    out, err = capsys.readouterr()
    [connector_id] = out.split()
    assert f"/v1/webhooks/line/{connector_id}" in err and "line-secret" not in out + err

    assert run(["connectors", "list"], settings) == 0
    listing = capsys.readouterr().out
    assert connector_id in listing and "acme" in listing and "line-secret" not in listing

    monkeypatch.setattr("sys.stdin", io.StringIO("new-line-secret\n"))
    assert run(["connectors", "rotate", connector_id, "--secret", "-"], settings) == 0
    assert capsys.readouterr().out.split() == [connector_id]
    store = SqliteConnectorStore(
        tmp_path / "webhook-connectors.sqlite3",
        AesGcmSealer(load_or_create_key(tmp_path / "webhook-seal.key")),
    )
    credentials = store.credentials("line", connector_id)
    assert credentials is not None and credentials.secrets == ("new-line-secret", "line-secret")

    assert run(["connectors", "remove", connector_id], settings) == 0
    assert run(["connectors", "remove", connector_id], settings) == 1
    assert run(["connectors", "list"], settings) == 0
    assert connector_id not in capsys.readouterr().out


def test_the_command_refuses_a_provider_issued_secret_it_was_not_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["connectors", "add", "sendgrid", "--tenant", "acme"], Settings(data_dir=tmp_path)) == 2
    )
    assert "sendgrid issues the secret" in capsys.readouterr().err
