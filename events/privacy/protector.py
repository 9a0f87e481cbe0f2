"""Sealing and opening whole batches against a ``KeyStore``: one key look-up per tenant per batch.

This is what ingest (seal), the identity stage and the projector (open) call. It knows
from the catalog which fields are personal: the identity kinds marked ``x-pii`` in the
envelope schema, and each type and version's ``x-pii`` payload fields.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from events.catalog import Catalog, load_catalog
from events.privacy.blind import BlindIndexer
from events.privacy.ciphertext import NONCE_BYTES, key_id_of, open_value, seal_value
from events.privacy.envelope import (
    EnvelopeKeys,
    Json,
    OpenedEnvelope,
    has_value,
    identity_pointer,
    open_envelope,
    payload_identity,
    seal_envelope,
    sealed_key_ids,
)
from events.privacy.errors import PrivacyError, UnknownKeyError
from events.privacy.keys import DataKey, Erased
from events.privacy.keystore import KeyStore


class SealedIdentity(NamedTuple):
    """An identifier as the identity store and the ``customers`` topic carry it."""

    subject: str  # blind index: for look-ups in stores that erasure can delete from
    sealed: str


class _Plan(NamedTuple):
    subjects: dict[str, str]  # kind -> subject, for every identifier
    personal: tuple[str, ...]  # the kinds sealed
    payload_pointers: tuple[str, ...]  # the personal payload fields that have a value
    payload: str | None  # subject of the payload key, when a personal payload field has a value


def _never_junk(kind: str, value: str) -> bool:
    return False


class _Recent:
    """A bounded, thread-safe dict of recent answers (the oldest go first)."""

    def __init__(self, max_entries: int) -> None:
        self._items: dict[Any, Any] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._max:
                self._items.pop(next(iter(self._items)))


class EnvelopeProtector:
    """Seals and opens envelopes; ``is_junk`` is the identity rules' (``IdentityRules.is_junk``)."""

    def __init__(
        self,
        store: KeyStore,
        catalog: Catalog | None = None,
        is_junk: Callable[[str, str], bool] = _never_junk,
        cache_size: int = 65_536,
    ) -> None:
        self.store = store
        self.catalog = catalog or load_catalog()
        self.is_junk = is_junk
        self.identity_kinds = frozenset(self.catalog.identity_pii_kinds())
        self._payload_pointers: dict[tuple[str, int], tuple[str, ...]] = {}
        self._indexers: dict[str, BlindIndexer] = {}
        # (tenant, identities) -> (subjects, personal kinds): one customer's events repeat them
        self._identity_plans = _Recent(cache_size)
        # (key id, kind, value) -> the identifier sealed under that key (see ``_sealed_identity``)
        self._sealed_identities = _Recent(cache_size)

    def subject(self, tenant: str, kind: str, value: str) -> str:
        """The blind index of a normalized identifier: the subject its key belongs to."""
        indexer = self._indexers.get(tenant)
        if indexer is None:
            indexer = self._indexers[tenant] = self.store.indexer(tenant)
        return indexer.index(kind, value)

    def payload_pointers(self, event_type: str, version: int) -> tuple[str, ...]:
        found = self._payload_pointers.get((event_type, version))
        if found is None:
            known = self.catalog.get(event_type)
            if known is None or version not in known.payload_schemas:
                raise PrivacyError(
                    f"{event_type} v{version}: not in the catalog, so its personal fields are unknown"
                )
            found = self._payload_pointers[(event_type, version)] = tuple(
                known.pii_pointers(version)
            )
        return found

    def seal_batch(self, envelopes: Sequence[Mapping[str, Any]]) -> list[Json]:
        """Each envelope (normalized, at its written version) with its personal values sealed."""
        return [sealed for sealed, _ in self.seal_batch_with_subjects(envelopes)]

    def seal_batch_with_subjects(
        self, envelopes: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Json, dict[str, str]]]:
        """Each envelope sealed, with every identifier's subject (what ingest writes beside it).

        The hot path of ingest: one key look-up per batch, the nonces drawn in one call,
        identities sealed in place of a copy of their dict (the general walk in
        ``seal_envelope`` is for the payload's pointers only).
        """
        plans = [self._plan(e) for e in envelopes]
        keys = self._subject_keys(envelopes, plans)
        count = sum(len(p.personal) for p in plans)
        nonces = os.urandom(NONCE_BYTES * count)
        at = 0
        out: list[tuple[Json, dict[str, str]]] = []
        for envelope, plan in zip(envelopes, plans, strict=True):
            tenant_keys = keys[envelope["tenant"]]
            sealed = dict(envelope)
            if plan.personal:
                identities = dict(envelope["identities"])
                for kind in plan.personal:
                    key, nonce = tenant_keys[plan.subjects[kind]], nonces[at : at + NONCE_BYTES]
                    identities[kind] = self._sealed_identity(key, kind, identities[kind], nonce)
                    at += NONCE_BYTES
                sealed["identities"] = identities
            if plan.payload is not None:
                payload_key = EnvelopeKeys({}, tenant_keys[plan.payload])
                sealed = seal_envelope(sealed, plan.payload_pointers, payload_key)
            out.append((sealed, plan.subjects))
        return out

    def seal_linked(
        self, listed: Sequence[tuple[str, Sequence[tuple[str, str]]]]
    ) -> list[list[list[str]]]:
        """Per envelope, its listed identifiers as ``[kind, subject, sealed]``, each under its own key.

        A profile's second email is sealed like an identity (at ``/identities/email``, under
        the key of its own subject), so erasing the person shreds it like her first.
        """
        subjects = [[(k, v, self.subject(t, k, v)) for k, v in values] for t, values in listed]
        wanted: dict[str, set[str]] = defaultdict(set)
        for (tenant, _), these in zip(listed, subjects, strict=True):
            wanted[tenant].update(subject for _, _, subject in these)
        keys = {t: self.store.subject_keys(t, s) for t, s in wanted.items() if s}
        out: list[list[list[str]]] = []
        for (tenant, _), these in zip(listed, subjects, strict=True):
            out.append([
                [kind, subject, self._sealed_identity(keys[tenant][subject], kind, value,
                                                      os.urandom(NONCE_BYTES))]
                for kind, value, subject in these
            ])  # fmt: skip
        return out

    def seal(self, envelope: Mapping[str, Any]) -> Json:
        return self.seal_batch([envelope])[0]

    def open_batch(self, sealed: Sequence[Mapping[str, Any]]) -> list[OpenedEnvelope]:
        """Each envelope in clear (before upcasting: pointers are the written version's)."""
        pointers = [self._open_pointers(e) for e in sealed]
        wanted: dict[str, set[bytes]] = defaultdict(set)
        for envelope, these in zip(sealed, pointers, strict=True):
            wanted[envelope["tenant"]] |= sealed_key_ids(envelope, these)
        states = {t: self.store.keys_by_id(t, ids) if ids else {} for t, ids in wanted.items()}
        return [
            open_envelope(e, p, states[e["tenant"]]) for e, p in zip(sealed, pointers, strict=True)
        ]

    def open(self, sealed: Mapping[str, Any]) -> OpenedEnvelope:
        return self.open_batch([sealed])[0]

    def seal_identity(self, tenant: str, kind: str, value: str) -> SealedIdentity:
        """One identifier sealed under its own key, bound to ``/identities/<kind>`` like in events."""
        subject = self.subject(tenant, kind, value)
        key = self.store.subject_key(tenant, subject)
        return SealedIdentity(subject, seal_value(value, key, identity_pointer(kind)))

    def open_identity(self, tenant: str, kind: str, sealed: str) -> str | None:
        """The identifier, or ``None`` once erased."""
        place = identity_pointer(kind)
        state = self.store.key_by_id(tenant, key_id_of(sealed, place))
        if state is None:
            raise UnknownKeyError(f"{tenant} {place}: sealed with a key this tenant never had")
        return None if isinstance(state, Erased) else str(open_value(sealed, state, place))

    def _sealed_identity(self, key: DataKey, kind: str, value: str, nonce: bytes) -> str:
        """``value`` sealed at its identity place, the same text each time for one key.

        Safe to repeat: one (key, nonce, plaintext, place) gives one ciphertext, so a repeat
        is that ciphertext again, never two messages under one nonce; and equality of two
        events' identifiers is no news beside the subjects (blind indexes) logged with them.
        A key erased and replaced has a new id, so nothing sealed under the old one is reused.
        """
        cache_key = (key.key_id, kind, value)
        sealed: str | None = self._sealed_identities.get(cache_key)
        if sealed is None:
            sealed = seal_value(value, key, identity_pointer(kind), nonce)
            self._sealed_identities.put(cache_key, sealed)
        return sealed

    def _identity_plan(
        self, tenant: str, identities: Mapping[str, str]
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        cache_key = (tenant, *identities.items())
        found = self._identity_plans.get(cache_key)
        if found is None:
            subject = self.subject
            subjects = {k: subject(tenant, k, v) for k, v in identities.items()}
            personal = tuple(k for k in identities if k in self.identity_kinds)
            found = (subjects, personal)
            self._identity_plans.put(cache_key, found)
        return dict(found[0]), found[1]

    def _plan(self, envelope: Mapping[str, Any]) -> _Plan:
        tenant, identities = envelope["tenant"], envelope["identities"]
        subjects, personal = self._identity_plan(tenant, identities)
        pointers = self.payload_pointers(envelope["type"], envelope["schema_version"])
        payload = tuple(p for p in pointers if has_value(envelope, p)) if pointers else ()
        payload_subject = None
        if payload:
            payload_subject = subjects[payload_identity(identities, self.is_junk)[0]]
        return _Plan(subjects, personal, payload, payload_subject)

    def _open_pointers(self, envelope: Mapping[str, Any]) -> tuple[str, ...]:
        # every identity kind, not only today's personal ones: a kind marked later stays readable
        identities = tuple(map(identity_pointer, envelope["identities"]))
        return identities + self.payload_pointers(envelope["type"], envelope["schema_version"])

    def _subject_keys(
        self, envelopes: Sequence[Mapping[str, Any]], plans: Sequence[_Plan]
    ) -> dict[str, dict[str, DataKey]]:
        wanted: dict[str, set[str]] = defaultdict(set)
        for envelope, plan in zip(envelopes, plans, strict=True):
            subjects = wanted[envelope["tenant"]]
            subjects.update(plan.subjects[k] for k in plan.personal)
            if plan.payload is not None:
                subjects.add(plan.payload)
        return {t: self.store.subject_keys(t, s) if s else {} for t, s in wanted.items()}
