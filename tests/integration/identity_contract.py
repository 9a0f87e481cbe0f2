"""One contract for every identity store: SQLite and PostgreSQL run the same tests.

Subclasses provide ``store_url``; every test uses its own tenant and stream
name, so a shared database is fine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.identity.resolver import IdentityResolver, Sighting
from services.identity.store import eventsourcing_env


def sighting(tenant: str, at: str, event_type: str = "chat.started", **identities: str) -> Sighting:
    return Sighting(tenant, str(uuid.uuid4()), at, event_type, identities)


class IdentityStoreContract:
    @pytest.fixture
    def store_url(self) -> Iterator[str]:
        raise NotImplementedError

    @pytest.fixture
    def resolver(self, store_url: str) -> IdentityResolver:
        return IdentityResolver(eventsourcing_env(store_url))

    @pytest.fixture
    def tenant(self) -> str:
        return f"t{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def stream(self) -> str:
        return f"touchpoints-test-{uuid.uuid4().hex[:8]}"

    def test_links_and_merges_survive_a_restart(self, store_url: str, resolver: IdentityResolver,
                                                tenant: str, stream: str) -> None:  # fmt: skip
        batch = [
            (0, sighting(tenant, "2026-01-02T00:00:00.000Z", email="a@x.io")),
            (1, sighting(tenant, "2026-01-01T00:00:00.000Z", phone="+14155552671")),
            (2, sighting(tenant, "2026-01-03T00:00:00.000Z", email="a@x.io", phone="+14155552671")),
        ]
        first, second, merged = resolver.resolve_batch(stream, batch)
        assert first.customer_id != second.customer_id
        assert merged.customer_id == second.customer_id  # seen earliest survives
        reopened = IdentityResolver(eventsourcing_env(store_url))
        assert reopened.customer_of(tenant, "email", "a@x.io") == uuid.UUID(second.customer_id)
        assert reopened.survivor(uuid.UUID(first.customer_id)) == uuid.UUID(second.customer_id)

    def test_position_is_stored_with_the_events(self, store_url: str, resolver: IdentityResolver,
                                                tenant: str, stream: str) -> None:  # fmt: skip
        resolver.resolve_batch(
            stream, [(7, sighting(tenant, "2026-01-01T00:00:00.000Z", email="b@x.io"))]
        )
        reopened = IdentityResolver(eventsourcing_env(store_url))
        assert reopened.recorder.max_tracking_id(stream) == 7
        assert reopened.customer_of(tenant, "email", "b@x.io") is not None

    def test_a_batch_is_applied_once(
        self, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        batch = [
            (0, sighting(tenant, "2026-01-01T00:00:00.000Z", email="c@x.io", phone="+14155552672"))
        ]
        [first] = resolver.resolve_batch(stream, batch)
        before = resolver.recorder.max_notification_id()
        [again] = resolver.resolve_batch(stream, batch)
        assert again.customer_id == first.customer_id and again.flags == ("replayed",)
        assert resolver.recorder.max_notification_id() == before

    def test_junk_identifiers_never_link(
        self, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        one, two = resolver.resolve_batch(stream, [
            (0, sighting(tenant, "2026-01-01T00:00:00.000Z", email="test@example.com", phone="+14155552673")),
            (1, sighting(tenant, "2026-01-01T00:00:00.000Z", email="test@example.com", phone="+14155552674")),
        ])  # fmt: skip
        assert one.customer_id != two.customer_id
        assert "junk_identifier:email" in one.flags
        assert resolver.customer_of(tenant, "email", "test@example.com") is None

    def test_identity_cap_blocks_the_merge(self, store_url: str, tenant: str, stream: str) -> None:
        from services.identity.rules import IdentityRules

        resolver = IdentityResolver(eventsourcing_env(store_url), IdentityRules(max_per_kind=2))
        at = "2026-01-01T00:00:00.000Z"
        items = [
            (0, sighting(tenant, at, email="p1@x.io", phone="+14155550001")),
            (1, sighting(tenant, at, email="p2@x.io", phone="+14155550001")),
            (2, sighting(tenant, at, email="p3@x.io", phone="+14155550002")),
            (3, sighting(tenant, at, email="p4@x.io", phone="+14155550002")),
            (4, sighting(tenant, at, phone="+14155550001", loyalty_id="L1")),
            (5, sighting(tenant, at, phone="+14155550002", loyalty_id="L1")),
        ]
        results = resolver.resolve_batch(stream, items)
        assert "merge_blocked_by_identity_cap" in results[5].flags
        assert resolver.customer_of(tenant, "email", "p1@x.io") != resolver.customer_of(
            tenant, "email", "p3@x.io"
        )

    def test_weak_identifiers_never_merge_identified_customers(self, resolver: IdentityResolver,
                                                               tenant: str, stream: str) -> None:  # fmt: skip
        at = "2026-01-01T00:00:00.000Z"
        a, b, both = resolver.resolve_batch(stream, [
            (0, sighting(tenant, at, email="d1@x.io", device_id="dev-1")),
            (1, sighting(tenant, at, email="d2@x.io")),
            (2, sighting(tenant, at, email="d2@x.io", device_id="dev-1")),
        ])  # fmt: skip
        assert a.customer_id != b.customer_id == both.customer_id
        assert "weak_identifier_of_another_customer" in both.flags

    def test_anonymous_history_joins_the_person(
        self, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        at = "2026-01-01T00:00:00.000Z"
        anonymous, identified = resolver.resolve_batch(stream, [
            (0, sighting(tenant, at, "web.page_viewed", device_id="dev-9")),
            (1, sighting(tenant, "2026-01-02T00:00:00.000Z", "form.submitted", email="e@x.io", device_id="dev-9")),
        ])  # fmt: skip
        assert resolver.survivor(uuid.UUID(anonymous.customer_id)) == uuid.UUID(
            identified.customer_id
        )
