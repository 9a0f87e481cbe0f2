"""One contract for every identity store: SQLite and PostgreSQL run the same tests.

Subclasses provide ``store_url``; every test uses its own tenant and stream
name, so a shared database is fine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from events.identities import is_junk
from services.identity.commands import detach_command, erase_command, merge_command
from services.identity.outcomes import Sighting
from services.identity.resolver import IdentityResolver
from services.identity.store import eventsourcing_env


def sighting(tenant: str, at: str, event_type: str = "chat.started", **identities: str) -> Sighting:
    """As the stage hands one over with encryption off: subjects are the values, and the
    junk kinds are those ingest judged placeholders."""
    junk = frozenset(k for k, v in identities.items() if is_junk(k, v))
    return Sighting(tenant, str(uuid.uuid4()), at, event_type, identities, junk=junk)


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

    def test_several_partitions_are_resolved_in_one_transaction_with_a_position_each(
        self, store_url: str, resolver: IdentityResolver, tenant: str, stream: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:  # fmt: skip
        """All or nothing: positions for every partition, and a later sighting sees an earlier one's link."""
        one, two = f"{stream}-a", f"{stream}-b"
        batch = [(one, [(4, sighting(tenant, "2026-01-01T00:00:00.000Z", email="m@x.io"))]),
                 (two, [(9, sighting(tenant, "2026-01-02T00:00:00.000Z", email="m@x.io",
                                     phone="+14155552673"))])]  # fmt: skip
        insert = resolver.recorder.insert_events
        transactions: list[dict[str, object]] = []

        def counted(*args: object, **kwargs: object) -> object:
            transactions.append(kwargs)
            return insert(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(resolver.recorder, "insert_events", counted)
        [[first], [second]] = resolver.resolve_streams(batch)
        assert len(transactions) == 1
        assert first.customer_id == second.customer_id
        reopened = IdentityResolver(eventsourcing_env(store_url))
        assert reopened.recorder.max_tracking_id(one) == 4
        assert reopened.recorder.max_tracking_id(two) == 9
        assert str(reopened.customer_of(tenant, "phone", "+14155552673")) == first.customer_id
        # delivered again (a crash before the offsets were committed): answered, not re-applied
        again = reopened.resolve_streams(batch)
        assert [[r.customer_id for r in rs] for rs in again] == [[first.customer_id]] * 2
        assert reopened.recorder.max_tracking_id(two) == 9

    def test_a_failed_transaction_leaves_nothing_behind(
        self, store_url: str, resolver: IdentityResolver, tenant: str, stream: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:  # fmt: skip
        """A batch retried after its transaction failed resolves as if it had never been tried."""
        first = [(0, sighting(tenant, "2026-01-01T00:00:00.000Z", email="c@x.io")),
                 (1, sighting(tenant, "2026-01-02T00:00:00.000Z", phone="+14155552672"))]  # fmt: skip
        resolver.resolve_batch(stream, first)
        joining = [(2, sighting(tenant, "2026-01-03T00:00:00.000Z", email="c@x.io",
                                phone="+14155552672", loyalty_id="L-9"))]  # fmt: skip
        insert = resolver.recorder.insert_events

        def lost_connection(*args: object, **kwargs: object) -> None:
            raise OSError("connection lost")

        monkeypatch.setattr(resolver.recorder, "insert_events", lost_connection)
        with pytest.raises(OSError):
            resolver.resolve_batch(stream, joining)
        monkeypatch.setattr(resolver.recorder, "insert_events", insert)
        (merged,) = resolver.resolve_batch(stream, joining)
        reopened = IdentityResolver(eventsourcing_env(store_url))
        survivor = reopened.customer(uuid.UUID(merged.customer_id))
        assert survivor is not None
        assert survivor.identities == {"email": ["c@x.io"], "phone": ["+14155552672"],
                                       "loyalty_id": ["L-9"]}  # fmt: skip
        assert reopened.customer_of(tenant, "loyalty_id", "L-9") == survivor.id
        assert len(survivor.aliases) == 1

    def test_the_same_event_id_in_two_tenants_resolves_in_each(
        self, resolver: IdentityResolver, stream: str
    ) -> None:
        """Event ids are unique per tenant only; one partition's batch may carry both."""
        a, b = f"t{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}"
        shared = str(uuid.uuid4())
        at = "2026-01-01T00:00:00.000Z"
        first, second = resolver.resolve_batch(stream, [
            (0, Sighting(a, shared, at, "chat.started", {"email": "same@x.io"})),
            (1, Sighting(b, shared, at, "chat.started", {"email": "same@x.io"})),
        ])  # fmt: skip
        assert first.customer_id == str(resolver.customer_of(a, "email", "same@x.io"))
        assert second.customer_id == str(resolver.customer_of(b, "email", "same@x.io"))
        assert first.customer_id != second.customer_id
        # answered again after a restart (offsets already applied): still each its own
        again = resolver.resolve_batch(stream, [
            (0, Sighting(a, shared, at, "chat.started", {"email": "same@x.io"})),
            (1, Sighting(b, shared, at, "chat.started", {"email": "same@x.io"})),
        ])  # fmt: skip
        assert [r.customer_id for r in again] == [first.customer_id, second.customer_id]

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

    # -- corrections: unmerge and erasure (commands from identity.commands) --------------

    def test_an_unmerge_splits_the_identifier_out_and_keeps_it_apart(
        self, store_url: str, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        at = "2026-01-01T00:00:00.000Z"
        [wrong] = resolver.resolve_batch(stream, [
            (0, sighting(tenant, at, email="u1@x.io", phone="+14155551001")),
        ])  # fmt: skip
        command = detach_command(tenant, "phone", "(415) 555-1001", "shared office phone")
        [outcome] = resolver.apply_commands(f"{stream}-commands", [(0, command)])
        assert outcome.applied, outcome.detail
        split = resolver.customer_of(tenant, "phone", "+14155551001")
        assert split is not None and str(split) != wrong.customer_id
        assert resolver.customer_of(tenant, "email", "u1@x.io") == uuid.UUID(wrong.customer_id)
        [again] = resolver.resolve_batch(stream, [
            (1, sighting(tenant, at, email="u1@x.io", phone="+14155551001")),
        ])  # fmt: skip
        assert "merge_blocked_by_unmerge" in again.flags
        reopened = IdentityResolver(eventsourcing_env(store_url))
        assert reopened.survivor(split) == split
        customer = reopened.customer(uuid.UUID(wrong.customer_id))
        assert customer is not None and "phone" not in customer.identities
        assert split in customer.kept_apart

    def test_a_command_is_applied_once(
        self, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        resolver.resolve_batch(stream, [
            (0, sighting(tenant, "2026-01-01T00:00:00.000Z", email="u2@x.io", loyalty_id="L-2")),
        ])  # fmt: skip
        item = (3, detach_command(tenant, "loyalty_id", "L-2", "card given to a friend"))
        [first] = resolver.apply_commands(f"{stream}-commands", [item])
        before = resolver.recorder.max_notification_id()
        [second] = resolver.apply_commands(f"{stream}-commands", [item])
        assert first.applied and not second.applied
        assert resolver.recorder.max_notification_id() == before

    def test_commands_that_cannot_apply_say_why(
        self, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        resolver.resolve_batch(stream, [
            (0, sighting(tenant, "2026-01-01T00:00:00.000Z", email="alone@x.io")),
        ])  # fmt: skip
        unknown, only_one, nobody = resolver.apply_commands(f"{stream}-commands", [
            (0, detach_command(tenant, "email", "nobody@x.io", "typo")),
            (1, detach_command(tenant, "email", "alone@x.io", "typo")),
            (2, erase_command(tenant, "gdpr", customer_id=str(uuid.uuid4()))),
        ])  # fmt: skip
        assert not unknown.applied and "belongs to no customer" in unknown.detail
        assert not only_one.applied and "no other identifier" in only_one.detail
        assert not nobody.applied and "no such customer" in nobody.detail

    def test_an_erasure_forgets_the_customer_and_its_aliases(
        self, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        at = "2026-01-01T00:00:00.000Z"
        a, b, _ = resolver.resolve_batch(stream, [
            (0, sighting(tenant, at, email="g1@x.io")),
            (1, sighting(tenant, "2025-12-01T00:00:00.000Z", phone="+14155551002")),
            (2, sighting(tenant, at, email="g1@x.io", phone="+14155551002")),
        ])  # fmt: skip
        [outcome] = resolver.apply_commands(f"{stream}-commands", [
            (0, erase_command(tenant, "gdpr request", kind="email", value="G1@x.io")),
        ])  # fmt: skip
        assert outcome.applied and "1 aliases" in outcome.detail
        for customer_id in (a.customer_id, b.customer_id):
            erased = resolver.customer(uuid.UUID(customer_id))
            assert erased is not None and erased.erased and erased.identities == {}
        assert resolver.customer_of(tenant, "email", "g1@x.io") is None
        [back] = resolver.resolve_batch(stream, [(3, sighting(tenant, at, email="g1@x.io"))])
        assert back.customer_id not in (a.customer_id, b.customer_id)
        assert resolver.customer_of(tenant, "email", "g1@x.io") == uuid.UUID(back.customer_id)

    def test_a_decided_merge_joins_two_customers_and_a_detach_undoes_it(
        self, store_url: str, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        a, b = resolver.resolve_batch(stream, [
            (0, sighting(tenant, "2026-01-01T00:00:00.000Z", email="m1@x.io")),
            (1, sighting(tenant, "2026-01-02T00:00:00.000Z", phone="+14155551003")),
        ])  # fmt: skip
        assert a.customer_id and b.customer_id
        merge = merge_command(tenant, a.customer_id, b.customer_id, "same person on the phone",
                              "supervisor:k1", "name_postal,name.full", 0.93, "s1")  # fmt: skip
        [merged] = resolver.apply_commands(f"{stream}-commands", [(0, merge)])
        assert merged.applied, merged.detail
        reopened = IdentityResolver(eventsourcing_env(store_url))
        survivor = uuid.UUID(a.customer_id)
        assert reopened.customer_of(tenant, "phone", "+14155551003") == survivor
        assert reopened.survivor(uuid.UUID(b.customer_id)) == survivor
        undo = detach_command(tenant, "phone", "+14155551003", "not the same person after all")
        [detached] = reopened.apply_commands(f"{stream}-commands", [(1, undo)])
        assert detached.applied, detached.detail
        split = reopened.customer_of(tenant, "phone", "+14155551003")
        assert split is not None and split != survivor
        [again] = reopened.resolve_batch(stream, [
            (2, sighting(tenant, "2026-01-03T00:00:00.000Z", email="m1@x.io", phone="+14155551003")),
        ])  # fmt: skip
        assert "merge_blocked_by_unmerge" in again.flags

    def test_decided_merges_that_cannot_apply_say_why(
        self, resolver: IdentityResolver, tenant: str, stream: str
    ) -> None:
        at = "2026-01-01T00:00:00.000Z"
        a, b, c = resolver.resolve_batch(stream, [
            (0, sighting(tenant, at, email="m2@x.io")),
            (1, sighting(tenant, at, email="m3@x.io")),
            (2, sighting(tenant, at, email="m4@x.io")),
        ])  # fmt: skip
        assert a.customer_id and b.customer_id and c.customer_id
        other = f"o{tenant}"
        commands = [
            merge_command(tenant, a.customer_id, b.customer_id, "one", "s"),
            merge_command(tenant, b.customer_id, a.customer_id, "again", "s"),
            merge_command(other, a.customer_id, c.customer_id, "other tenant", "s"),
            erase_command(tenant, "gdpr", customer_id=c.customer_id),
            merge_command(tenant, a.customer_id, c.customer_id, "erased", "s"),
        ]
        done, same, foreign, _, erased = resolver.apply_commands(
            f"{stream}-commands", list(enumerate(commands))
        )
        assert done.applied, done.detail
        assert not same.applied and "already one customer" in same.detail
        assert not foreign.applied and "no such customer" in foreign.detail
        assert not erased.applied and "erased" in erased.detail
