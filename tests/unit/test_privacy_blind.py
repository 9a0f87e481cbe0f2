"""Blind indexes and derived ids: stable, keyed, separated by tenant, kind and purpose."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import uuid

from events.privacy.blind import BlindIndexer, blind_index, derive_uuid
from events.privacy.protector import EnvelopeProtector
from tests.privacy_memory import MemoryKeyStore

SECRET = bytes(range(32))


def test_the_index_is_the_truncated_hmac_of_kind_and_value() -> None:
    """Pinned: every record key and store look-up depends on these bytes never changing."""
    expected = hmac.new(SECRET, b"tl-blind-index-v1\x00email\x00tanaka@example.com", hashlib.sha256)
    assert blind_index(SECRET, "email", "tanaka@example.com") == expected.hexdigest()[:32]


def test_the_index_is_stable_across_processes() -> None:
    here = blind_index(SECRET, "phone", "+14155552671")
    code = (
        "from events.privacy.blind import blind_index;"
        "print(blind_index(bytes(range(32)), 'phone', '+14155552671'))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here


def test_the_same_email_in_two_tenants_gets_two_indexes() -> None:
    store = MemoryKeyStore()
    protector = EnvelopeProtector(store)
    acme = protector.subject("acme", "email", "tanaka@example.com")
    globex = protector.subject("globex", "email", "tanaka@example.com")
    assert acme != globex
    assert acme == protector.subject("acme", "email", "tanaka@example.com")
    assert store.tenant_secret("acme") != store.tenant_secret("globex")


def test_kind_and_value_are_kept_apart() -> None:
    assert blind_index(SECRET, "email", "a") != blind_index(SECRET, "customer_ref", "a")
    assert blind_index(SECRET, "ab", "c") != blind_index(SECRET, "a", "bc")
    assert blind_index(SECRET, "email", "a") != blind_index(os.urandom(32), "email", "a")


def test_the_indexer_agrees_with_the_function() -> None:
    indexer = BlindIndexer("acme", SECRET)
    for kind, value in [("email", "x@y.io"), ("phone", "+14155552671"), ("social", "x:tanaka")]:
        assert indexer.index(kind, value) == blind_index(SECRET, kind, value)
        assert indexer.index(kind, value) == indexer.index(kind, value)


def test_derived_ids_are_version_8_uuids_that_need_the_secret() -> None:
    one = derive_uuid(SECRET, "customer", "email:tanaka@example.com")
    assert isinstance(one, uuid.UUID) and one.version == 8 and one.variant == uuid.RFC_4122
    assert one == derive_uuid(SECRET, "customer", "email:tanaka@example.com")
    assert one != derive_uuid(SECRET, "claim", "email:tanaka@example.com")
    assert one != derive_uuid(os.urandom(32), "customer", "email:tanaka@example.com")
    assert one != uuid.uuid5(uuid.NAMESPACE_URL, "email:tanaka@example.com")
    ids = {derive_uuid(SECRET, "customer", str(n)) for n in range(1000)}
    assert len(ids) == 1000 and all(i.version == 8 for i in ids)
