"""The key cache: what it saves, how long it may be stale after an erasure elsewhere, its bound."""

from __future__ import annotations

import uuid

from events.privacy.cache import CachedKeyStore
from events.privacy.keys import DataKey, Erased
from tests.privacy_memory import MemoryKeyStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cached(
    ttl: float = 30.0, max_entries: int = 1000
) -> tuple[CachedKeyStore, MemoryKeyStore, Clock]:
    inner, clock = MemoryKeyStore(), Clock()
    return CachedKeyStore(inner, ttl=ttl, max_entries=max_entries, clock=clock), inner, clock


def test_a_warm_cache_answers_without_the_store() -> None:
    cache, inner, _ = cached()
    key = cache.subject_key("acme", "s1")
    inner.calls.clear()
    assert cache.subject_key("acme", "s1") == key
    assert cache.key_by_id("acme", key.key_id) == key  # keys created here open here
    assert inner.calls == []


def test_only_the_missing_subjects_are_fetched() -> None:
    cache, inner, _ = cached()
    cache.subject_keys("acme", ["a", "b"])
    fetched: list[list[str]] = []
    original = inner.subject_keys
    inner.subject_keys = lambda tenant, subjects: (
        fetched.append(sorted(subjects)) or original(tenant, subjects)
    )  # type: ignore[method-assign]
    assert set(cache.subject_keys("acme", ["a", "b", "c"])) == {"a", "b", "c"}
    assert fetched == [["c"]]


def test_after_an_erasure_elsewhere_the_old_key_lives_at_most_ttl_seconds() -> None:
    cache, inner, clock = cached(ttl=30)
    old = cache.subject_key("acme", "s1")
    inner.erase("acme", ["s1"], "another process", "request")  # not through this cache
    clock.now = 29.9
    assert cache.subject_key("acme", "s1") == old  # the documented window
    assert cache.key_by_id("acme", old.key_id) == old
    clock.now = 30.1
    fresh = cache.subject_key("acme", "s1")
    assert fresh.key_id != old.key_id
    assert isinstance(cache.key_by_id("acme", old.key_id), Erased)


def test_an_erasure_through_the_cache_or_told_to_it_takes_effect_at_once() -> None:
    cache, inner, _ = cached()
    a, b = cache.subject_keys("acme", ["a", "b"]).values()
    cache.erase("acme", ["a"], "dpo", "request")
    assert isinstance(cache.key_by_id("acme", a.key_id), Erased)
    assert cache.subject_key("acme", "a").key_id != a.key_id
    inner.erase("acme", ["b"], "another process", "request")
    cache.forget("acme", key_ids=[b.key_id])
    assert isinstance(cache.key_by_id("acme", b.key_id), Erased)


def test_tombstones_stay_and_unknown_ids_are_asked_again() -> None:
    cache, inner, clock = cached(ttl=1)
    key = cache.subject_key("acme", "s")
    cache.erase("acme", ["s"], "dpo", "request")
    assert isinstance(cache.key_by_id("acme", key.key_id), Erased)
    clock.now = 10_000
    inner.calls.clear()
    assert isinstance(cache.key_by_id("acme", key.key_id), Erased)
    assert inner.calls == []
    unknown = uuid.uuid4().bytes
    assert cache.key_by_id("acme", unknown) is None and cache.key_by_id("acme", unknown) is None
    assert inner.calls == ["keys_by_id", "keys_by_id"]


def test_the_cache_is_bounded() -> None:
    cache, inner, _ = cached(max_entries=50)
    keys: dict[str, DataKey] = cache.subject_keys("acme", [f"s{i}" for i in range(200)])
    inner.calls.clear()
    cache.subject_key("acme", "s199")  # recent: still held
    assert inner.calls == []
    assert cache.subject_key("acme", "s0") == keys["s0"]  # evicted: fetched again, same key
    assert inner.calls == ["subject_keys"]


def test_tenant_secrets_and_indexers_are_fetched_once() -> None:
    cache, inner, _ = cached()
    indexer = cache.indexer("acme")
    assert cache.indexer("acme") is indexer
    assert cache.tenant_secret("acme") == inner.tenant_secret("acme")
    assert cache.indexer("globex").index("email", "x@y.io") != indexer.index("email", "x@y.io")
