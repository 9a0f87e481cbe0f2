"""One contract for every key store: SQLite and PostgreSQL (and the in-memory fake) run the same tests.

``KeyStoreContract`` needs an ``opener`` (a keyring in, a store out); ``SharedKeyStoreContract``
adds what only a store shared between processes can do, and needs a ``store_url``.
Every test uses its own tenant, so a shared database is fine.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from events.privacy.errors import RootKeyError
from events.privacy.kek import Keyring
from events.privacy.keys import DataKey, Erased
from events.privacy.keystore import KeyStore
from services.privacy.store import open_keystore

Opener = Callable[[Keyring], KeyStore]


def subjects(n: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(n)]


class KeyStoreContract:
    @pytest.fixture
    def opener(self) -> Iterator[Opener]:
        raise NotImplementedError

    @pytest.fixture
    def keyring(self) -> Keyring:
        return Keyring.generate()

    @pytest.fixture
    def store(self, opener: Opener, keyring: Keyring) -> Iterator[KeyStore]:
        store = opener(keyring)
        yield store
        store.close()

    @pytest.fixture
    def tenant(self) -> str:
        return f"t{uuid.uuid4().hex[:8]}"

    # -- data keys ----------------------------------------------------------------

    def test_get_or_create_gives_one_key_per_subject(self, store: KeyStore, tenant: str) -> None:
        a, b = subjects(2)
        first = store.subject_keys(tenant, [a, b])
        again = store.subject_keys(tenant, [b, a, a])
        assert set(first) == {a, b} and again == first
        assert first[a].key_id != first[b].key_id and first[a].material != first[b].material
        assert len(first[a].key_id) == 16 and len(first[a].material) == 32
        assert first[a].subject == a and first[a].tenant == tenant

    def test_keys_are_durable_and_shared_by_every_connection(
        self, store: KeyStore, opener: Opener, keyring: Keyring, tenant: str
    ) -> None:
        (s,) = subjects(1)
        key = store.subject_key(tenant, s)
        other = opener(keyring)
        try:
            assert other.subject_key(tenant, s) == key
            assert other.key_by_id(tenant, key.key_id) == key
        finally:
            other.close()

    def test_a_subject_of_one_tenant_is_not_the_same_in_another(self, store: KeyStore) -> None:
        (s,) = subjects(1)
        one, two = f"t{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
        a, b = store.subject_key(one, s), store.subject_key(two, s)
        assert a.key_id != b.key_id and a.material != b.material
        assert store.key_by_id(two, a.key_id) is None  # ids are looked up within a tenant

    def test_concurrent_callers_on_two_connections_get_one_key(
        self, opener: Opener, keyring: Keyring, tenant: str
    ) -> None:
        wanted = subjects(120)
        stores = [opener(keyring), opener(keyring)]
        results: list[dict[str, bytes]] = [{}, {}]
        start = threading.Barrier(2)

        def work(i: int) -> None:
            order = random.Random(i).sample(wanted, len(wanted))
            start.wait()
            for n in range(0, len(order), 10):
                batch = stores[i].subject_keys(tenant, order[n : n + 10])
                results[i].update({s: k.key_id for s, k in batch.items()})

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        try:
            assert results[0] == results[1] and len(results[0]) == len(wanted)
        finally:
            for s in stores:
                s.close()

    # -- by id: live, erased, never existed ---------------------------------------------

    def test_by_id_tells_erased_from_never_existed(self, store: KeyStore, tenant: str) -> None:
        live, gone = subjects(2)
        keys = store.subject_keys(tenant, [live, gone])
        store.erase(tenant, [gone], "contract test", "erased for the test")
        forged = uuid.uuid4().bytes
        found = store.keys_by_id(tenant, [keys[live].key_id, keys[gone].key_id, forged])
        assert found[keys[live].key_id] == keys[live]
        erased = found[keys[gone].key_id]
        assert isinstance(erased, Erased) and erased.key_id == keys[gone].key_id
        assert len(erased.erased_on) == 10  # a day, not an instant
        assert forged not in found
        assert store.key_by_id(tenant, forged) is None

    # -- erasure ------------------------------------------------------------------------

    def test_erasure_destroys_the_key_and_a_returning_subject_gets_a_new_one(
        self, store: KeyStore, tenant: str
    ) -> None:
        s, other = subjects(2)
        old = store.subject_keys(tenant, [s, other])
        done = store.erase(tenant, [s], "dpo@acme", "art. 17 request")
        assert done.key_ids == (old[s].key_id.hex(),) and done.key_count == 1
        assert done.subject_count == 1 and done.tenant == tenant
        assert done.actor == "dpo@acme" and done.reason == "art. 17 request"
        assert done.erased_at.endswith("Z") and len(done.erased_at) == 24
        new = store.subject_key(tenant, s)
        assert new.key_id != old[s].key_id and new.material != old[s].material
        assert store.subject_key(tenant, other) == old[other]  # untouched
        assert isinstance(store.key_by_id(tenant, old[s].key_id), Erased)

    def test_erasure_is_idempotent(self, store: KeyStore, tenant: str) -> None:
        s, never = subjects(2)
        key = store.subject_key(tenant, s)
        first = store.erase(tenant, [s, never], "ops", "request 1")
        second = store.erase(tenant, [s, never], "ops", "request 1, repeated")
        assert first.key_count == 1 and first.subject_count == 2
        assert second.key_count == 0 and second.key_ids == () and second.subject_count == 2
        assert second.receipt_id != first.receipt_id
        assert isinstance(store.key_by_id(tenant, key.key_id), Erased)

    def test_stored_receipts_keep_counts_and_no_key_ids(self, store: KeyStore, tenant: str) -> None:
        a, b = subjects(2)
        store.subject_keys(tenant, [a, b])
        done = store.erase(tenant, [a, b], "ops", "offboarding")
        stored = store.receipts(tenant)
        assert [r.receipt_id for r in stored] == [done.receipt_id]
        assert stored[0].key_count == 2 and stored[0].subject_count == 2
        assert stored[0].key_ids == ()
        assert stored[0].erased_at == done.erased_at and stored[0].reason == "offboarding"
        assert store.receipts(f"t{uuid.uuid4().hex[:8]}") == []

    def test_an_erasure_without_actor_or_reason_is_refused(
        self, store: KeyStore, tenant: str
    ) -> None:
        (s,) = subjects(1)
        key = store.subject_key(tenant, s)
        with pytest.raises(ValueError, match="actor and a reason"):
            store.erase(tenant, [s], "ops", " ")
        assert store.key_by_id(tenant, key.key_id) == key

    def test_erasure_stays_in_its_tenant(self, store: KeyStore, tenant: str) -> None:
        (s,) = subjects(1)
        elsewhere = f"t{uuid.uuid4().hex[:8]}"
        kept = store.subject_key(elsewhere, s)
        store.subject_key(tenant, s)
        store.erase(tenant, [s], "ops", "request")
        assert store.subject_key(elsewhere, s) == kept

    def test_a_large_erasure_in_one_call(self, store: KeyStore, tenant: str) -> None:
        many = subjects(1200)  # more than one statement's worth
        keys = store.subject_keys(tenant, many)
        done = store.erase(tenant, many, "ops", "tenant clean-up")
        assert done.key_count == 1200
        states = store.keys_by_id(tenant, [k.key_id for k in keys.values()])
        assert len(states) == 1200 and all(isinstance(v, Erased) for v in states.values())

    # -- tenant secrets -------------------------------------------------------------------

    def test_tenant_secret_is_random_stable_and_per_tenant(
        self, store: KeyStore, opener: Opener, keyring: Keyring, tenant: str
    ) -> None:
        secret = store.tenant_secret(tenant)
        assert len(secret) == 32 and store.tenant_secret(tenant) == secret
        assert store.tenant_secret(f"t{uuid.uuid4().hex[:8]}") != secret
        other = opener(keyring)
        try:
            assert other.tenant_secret(tenant) == secret
        finally:
            other.close()

    # -- the KEK --------------------------------------------------------------------------

    def test_keys_are_unreadable_without_the_kek(
        self, store: KeyStore, opener: Opener, tenant: str
    ) -> None:
        (s,) = subjects(1)
        key = store.subject_key(tenant, s)
        store.tenant_secret(tenant)
        stranger = opener(Keyring.generate())
        try:
            with pytest.raises(RootKeyError, match="does not unwrap"):
                stranger.key_by_id(tenant, key.key_id)
            with pytest.raises(RootKeyError):
                stranger.tenant_secret(tenant)
        finally:
            stranger.close()

    def test_kek_rotation_rewraps_every_key_and_retires_the_old_version(
        self, store: KeyStore, opener: Opener, keyring: Keyring, tenant: str
    ) -> None:
        keys = store.subject_keys(tenant, subjects(30))
        secret = store.tenant_secret(tenant)
        rotated = keyring.with_new_version()
        store.close()
        store = opener(rotated)
        try:
            fresh = store.subject_key(tenant, uuid.uuid4().hex)  # new keys: the new version
            while store.rewrap(limit=7):
                pass
            assert set(store.kek_versions()) == {rotated.current}
            assert store.kek_versions()[rotated.current] >= 32
        finally:
            store.close()
        retired = opener(rotated.without(keyring.current))
        try:
            again = retired.keys_by_id(tenant, [k.key_id for k in keys.values()] + [fresh.key_id])
            assert all(again[k.key_id] == k for k in keys.values()) and again[fresh.key_id] == fresh
            assert retired.tenant_secret(tenant) == secret
        finally:
            retired.close()


def _get_or_create_in_child(
    url: str, keyring: str, tenant: str, wanted: list[str], seed: int, go: Any, out: Any
) -> None:
    """Run in a child process: ask for the tenant secret and every key, in a shuffled order."""
    store = open_keystore(url, Keyring.parse(keyring))
    go.wait(30)
    secret = store.tenant_secret(tenant)
    order = random.Random(seed).sample(wanted, len(wanted))
    found: dict[str, bytes] = {}
    for n in range(0, len(order), 15):
        found.update(
            {s: k.key_id for s, k in store.subject_keys(tenant, order[n : n + 15]).items()}
        )
    store.close()
    out.put((secret, found))


class SharedKeyStoreContract(KeyStoreContract):
    """What a store shared by several processes must do (ingest, identity stage, projector)."""

    @pytest.fixture
    def store_url(self) -> Iterator[str]:
        raise NotImplementedError

    @pytest.fixture
    def opener(self, store_url: str) -> Iterator[Opener]:
        yield lambda keyring: open_keystore(store_url, keyring)

    def test_concurrent_processes_get_one_key_and_one_secret(
        self, store_url: str, keyring: Keyring, tenant: str
    ) -> None:
        wanted = subjects(150)
        context = multiprocessing.get_context("spawn")
        go, out = context.Event(), context.Queue()
        children = [
            context.Process(
                target=_get_or_create_in_child,
                args=(store_url, keyring.dumps(), tenant, wanted, seed, go, out),
            )
            for seed in range(3)
        ]
        for child in children:
            child.start()
        go.set()
        answers: list[tuple[bytes, dict[str, DataKey]]] = [out.get(timeout=120) for _ in children]
        for child in children:
            child.join(30)
            assert child.exitcode == 0
        secrets = {secret for secret, _ in answers}
        assert len(secrets) == 1
        maps = [found for _, found in answers]
        assert maps[0] == maps[1] == maps[2] and len(maps[0]) == len(wanted)
        store = open_keystore(store_url, keyring)
        try:
            assert {s: k.key_id for s, k in store.subject_keys(tenant, wanted).items()} == maps[0]
            assert store.tenant_secret(tenant) in secrets
        finally:
            store.close()
