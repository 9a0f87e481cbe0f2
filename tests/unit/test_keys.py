"""API keys: scoped to a tenant and role, stored only as digests, revocable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.auth.keys import KeyError_, digest
from services.auth.sqlite import SqliteKeyStore


@pytest.fixture
def store(tmp_path: Path) -> SqliteKeyStore:
    return SqliteKeyStore(tmp_path / "keys.sqlite3")


def test_created_key_grants_its_tenant_and_role(store: SqliteKeyStore) -> None:
    key = store.create("acme", "publisher", ("call.*", "chat.ended"))
    grant = store.lookup(key)
    assert grant is not None
    assert (grant.tenant, grant.role) == ("acme", "publisher")
    assert grant.may_publish("call.completed") and grant.may_publish("chat.ended")
    assert not grant.may_publish("chat.started")


def test_key_is_stored_only_as_a_digest(store: SqliteKeyStore, tmp_path: Path) -> None:
    key = store.create("acme", "agent")
    data = (tmp_path / "keys.sqlite3").read_bytes() + (tmp_path / "keys.sqlite3-wal").read_bytes()
    assert key.encode() not in data
    assert digest(key).encode() in data


def test_revoked_and_unknown_keys_grant_nothing(store: SqliteKeyStore) -> None:
    key = store.create("acme", "publisher")
    assert store.revoke(key)
    assert store.lookup(key) is None
    assert not store.revoke(key)
    assert store.lookup("tlp_unknown") is None


def test_revoke_by_id(store: SqliteKeyStore) -> None:
    key = store.create("acme", "analyst")
    grant = store.lookup(key)
    assert grant is not None and store.revoke(grant.key_id)
    assert store.lookup(key) is None


def test_only_publishers_publish(store: SqliteKeyStore) -> None:
    agent = store.lookup(store.create("acme", "agent"))
    assert agent is not None and not agent.may_publish("call.completed")


@pytest.mark.parametrize(
    ("tenant", "role", "types"),
    [("Acme Corp", "publisher", ()), ("acme", "admin", ()), ("acme", "agent", ("call.*",))],
)
def test_bad_requests_are_refused(
    store: SqliteKeyStore, tenant: str, role: str, types: tuple[str, ...]
) -> None:
    with pytest.raises(KeyError_):
        store.create(tenant, role, types)  # type: ignore[arg-type]
