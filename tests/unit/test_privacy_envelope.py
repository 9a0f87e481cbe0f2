"""Sealing and opening real envelopes: nothing personal left in clear, erased fields read as erased."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import orjson
import pytest

from events.intake import EventIntake, PreparedEvent
from events.privacy.ciphertext import is_sealed, seal_value
from events.privacy.envelope import EnvelopeKeys, open_envelope, payload_identity, seal_envelope
from events.privacy.errors import TamperedCiphertext, UnknownKeyError
from events.privacy.keys import new_data_key
from events.privacy.protector import EnvelopeProtector
from events.timestamps import now_utc
from services.identity.rules import IdentityRules
from tests import samples
from tests.privacy_memory import MemoryKeyStore

TENANT = "acme"


@cache
def intake() -> EventIntake:
    return EventIntake("US")


def prepared(*raws: dict[str, Any], tenant: str = TENANT) -> list[dict[str, Any]]:
    """Envelopes as ingest has them before it seals (validated, normalized; without the
    ``subjects``, ``junk`` and ``linked`` it writes beside them, which in clear mode are the
    values)."""
    out = []
    for result in intake().prepare_batch(list(raws), tenant, now_utc()):
        assert isinstance(result, PreparedEvent), result
        logged = orjson.loads(result.value)
        out.append({k: v for k, v in logged.items() if k not in ("subjects", "junk", "linked")})
    return out


def profile_update() -> dict[str, Any]:
    return samples.chat_message(
        type="customer.profile_updated",
        source="crm",
        identities={
            "customer_ref": "C-1",
            "email": "tanaka@example.com",
            "phone": "(415) 555-2671",
        },
        payload={
            "name": {"family": "田中", "given": "太郎", "display": None},
            "emails": ["tanaka@example.com", "t.tanaka@example.org"],
            "address": {"postal_code": "150-0001", "city": "Shibuya", "country": "JP"},
            "birthday": "1990-04-01",
            "company": "Acme KK",
            "attributes": {"tier": "gold"},
        },
    )


def form_submitted() -> dict[str, Any]:
    return samples.chat_message(
        type="form.submitted",
        source="web",
        identities={"email": "test@example.com", "device_id": "dev-1", "social": "x:Tanaka_Y"},
        payload={"form_id": "contact", "fields": {"name": "Taro", "age": 36, "ok": True}},
    )


@pytest.fixture
def store() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
def protector(store: MemoryKeyStore) -> EnvelopeProtector:
    return EnvelopeProtector(store, is_junk=IdentityRules().is_junk)


def real_envelopes() -> list[dict[str, Any]]:
    return prepared(
        samples.call_completed(
            payload={**samples.call_completed()["payload"], "notes": "angry about the delay"}
        ),
        samples.chat_message(),
        samples.purchase_v1(),
        profile_update(),
        form_submitted(),
    )


def personal_values(envelope: dict[str, Any]) -> list[str]:
    """The clear strings a reader of the log must not find."""
    values = [
        v
        for k, v in envelope["identities"].items()
        if k in ("email", "phone", "loyalty_id", "social")
    ]
    payload = envelope["payload"]
    for name in ("notes", "text"):
        if name in payload:
            values.append(payload[name])
    if "name" in payload:
        values += ["田中", "太郎", "150-0001", "Shibuya", "t.tanaka@example.org", "1990-04-01"]
    if "fields" in payload:
        values.append("Taro")
    return values


def test_real_envelopes_round_trip(protector: EnvelopeProtector) -> None:
    envelopes = real_envelopes()
    originals = copy.deepcopy(envelopes)
    sealed = protector.seal_batch(envelopes)
    assert envelopes == originals  # the input is not changed
    opened = protector.open_batch(
        [orjson.loads(orjson.dumps(s)) for s in sealed]
    )  # through the wire form
    assert [o.envelope for o in opened] == originals
    assert all(o.erased == () for o in opened)


def test_no_personal_value_is_left_in_clear(protector: EnvelopeProtector) -> None:
    for envelope, sealed in zip(
        real_envelopes(), protector.seal_batch(real_envelopes()), strict=True
    ):
        wire = orjson.dumps(sealed).decode()
        for value in personal_values(envelope):
            assert value not in wire, (envelope["type"], value)


def test_what_is_not_personal_stays_as_it_was(protector: EnvelopeProtector) -> None:
    profile, form = prepared(profile_update(), form_submitted())
    sealed_profile, sealed_form = protector.seal_batch([profile, form])
    # every identifier kind is x-pii (a device id or the CRM's id links events to a person)
    assert is_sealed(sealed_profile["identities"]["customer_ref"])
    assert is_sealed(sealed_form["identities"]["device_id"])
    kept = {k: v for k, v in profile.items() if k not in ("identities", "payload")}
    assert {k: v for k, v in sealed_profile.items() if k not in ("identities", "payload")} == kept
    payload = sealed_profile["payload"]
    assert payload["company"] == "Acme KK" and payload["attributes"] == {"tier": "gold"}
    assert payload["address"]["country"] == "JP" and is_sealed(payload["address"]["city"])
    assert payload["name"]["display"] is None  # null: a cleared field, nothing to hide
    assert is_sealed(payload["emails"]) and is_sealed(sealed_form["payload"]["fields"])


def test_an_erased_identity_reads_as_erased_and_the_others_still_open(
    store: MemoryKeyStore, protector: EnvelopeProtector
) -> None:
    (profile,) = prepared(profile_update())
    sealed = protector.seal(profile)
    phone = protector.subject(TENANT, "phone", profile["identities"]["phone"])
    store.erase(TENANT, [phone], "dpo", "request")
    opened = protector.open(sealed)
    assert opened.erased == ("/identities/phone",)
    assert opened.envelope["identities"]["phone"] is None
    assert opened.envelope["identities"]["email"] == "tanaka@example.com"
    assert opened.envelope["payload"] == profile["payload"]  # sealed under customer_ref's key


def test_erasing_the_payload_subject_erases_every_personal_payload_field(
    store: MemoryKeyStore, protector: EnvelopeProtector
) -> None:
    (profile,) = prepared(profile_update())
    sealed = protector.seal(profile)
    store.erase(TENANT, [protector.subject(TENANT, "customer_ref", "C-1")], "dpo", "request")
    opened = protector.open(sealed)
    assert set(opened.erased) == {
        "/identities/customer_ref",  # the erased subject's own identifier
        "/payload/name/family",
        "/payload/name/given",
        "/payload/emails",
        "/payload/address/postal_code",
        "/payload/address/city",
        "/payload/birthday",
    }
    payload = opened.envelope["payload"]
    assert payload["name"] == {"family": None, "given": None, "display": None}
    assert payload["company"] == "Acme KK" and payload["address"]["country"] == "JP"
    assert opened.envelope["identities"]["email"] == "tanaka@example.com"


def test_a_junk_identifier_never_seals_the_payload(protector: EnvelopeProtector) -> None:
    rules = IdentityRules()
    assert payload_identity(
        {"email": "test@example.com", "social": "x:tanaka_y"}, rules.is_junk
    ) == ("social", "x:tanaka_y")
    assert payload_identity({"email": "test@example.com"}, rules.is_junk) == (
        "email",
        "test@example.com",
    )
    assert payload_identity({"device_id": "d", "loyalty_id": "L1"}, rules.is_junk) == (
        "loyalty_id",
        "L1",
    )


def test_erasing_the_person_behind_a_junk_event_erases_its_payload(
    store: MemoryKeyStore, protector: EnvelopeProtector
) -> None:
    """The form came with a shared test address; the social handle is the person's own."""
    (form,) = prepared(form_submitted())
    sealed = protector.seal(form)
    store.erase(TENANT, [protector.subject(TENANT, "social", "x:tanaka_y")], "dpo", "request")
    opened = protector.open(sealed)
    assert opened.envelope["payload"]["fields"] is None
    assert opened.envelope["identities"]["email"] == "test@example.com"


def test_one_key_lookup_per_batch(store: MemoryKeyStore, protector: EnvelopeProtector) -> None:
    envelopes = real_envelopes() * 20
    sealed = protector.seal_batch(envelopes)
    protector.open_batch(sealed)
    assert store.calls == ["subject_keys", "keys_by_id"]


def test_a_batch_of_two_tenants_seals_each_under_its_own_keys(protector: EnvelopeProtector) -> None:
    (acme,) = prepared(samples.chat_message())
    (globex,) = prepared(samples.chat_message(), tenant="globex")
    sealed_acme, sealed_globex = protector.seal_batch([acme, globex])
    assert sealed_acme["identities"]["email"][:26] != sealed_globex["identities"]["email"][:26]
    assert [o.envelope for o in protector.open_batch([sealed_acme, sealed_globex])] == [
        acme,
        globex,
    ]


def test_a_value_moved_to_another_tenant_is_refused(protector: EnvelopeProtector) -> None:
    (acme,) = prepared(samples.chat_message())
    (globex,) = prepared(samples.chat_message(), tenant="globex")
    sealed_acme, sealed_globex = protector.seal_batch([acme, globex])
    sealed_globex["payload"]["text"] = sealed_acme["payload"]["text"]
    with pytest.raises(UnknownKeyError, match="globex /payload/text"):
        protector.open(sealed_globex)


def test_a_value_moved_to_another_field_is_refused(protector: EnvelopeProtector) -> None:
    (chat,) = prepared(samples.chat_message())
    sealed = protector.seal(chat)
    sealed["payload"]["text"] = sealed["identities"]["email"]  # same tenant, same person's key
    with pytest.raises(TamperedCiphertext, match="/payload/text"):
        protector.open(sealed)


def test_tampering_raises_rather_than_reading_as_erased(protector: EnvelopeProtector) -> None:
    (chat,) = prepared(samples.chat_message())
    sealed = protector.seal(chat)
    text = sealed["payload"]["text"]
    sealed["payload"]["text"] = text[:-6] + ("A" if text[-6] != "A" else "B") + text[-5:]
    with pytest.raises(TamperedCiphertext):
        protector.open(sealed)


def test_a_key_the_tenant_never_had_is_refused(protector: EnvelopeProtector) -> None:
    (chat,) = prepared(samples.chat_message())
    sealed = protector.seal(chat)
    sealed["payload"]["text"] = seal_value(
        "forged", new_data_key(TENANT, "nobody"), "/payload/text"
    )
    with pytest.raises(UnknownKeyError, match="never had"):
        protector.open(sealed)


def test_envelopes_logged_before_sealing_began_pass_through(protector: EnvelopeProtector) -> None:
    envelopes = real_envelopes()
    opened = protector.open_batch(envelopes)
    assert [o.envelope for o in opened] == envelopes and all(not o.erased for o in opened)


def test_an_identifier_sealed_alone_opens_like_the_one_in_events(
    store: MemoryKeyStore, protector: EnvelopeProtector
) -> None:
    (chat,) = prepared(samples.chat_message())
    sealed_event = protector.seal(chat)
    single = protector.seal_identity(TENANT, "email", "tanaka@example.com")
    assert single.subject == protector.subject(TENANT, "email", "tanaka@example.com")
    assert protector.open_identity(TENANT, "email", single.sealed) == "tanaka@example.com"
    # the event's sealed value can be copied into the identity store as it is
    assert (
        protector.open_identity(TENANT, "email", sealed_event["identities"]["email"])
        == "tanaka@example.com"
    )
    with pytest.raises(TamperedCiphertext):
        protector.open_identity(TENANT, "phone", single.sealed)
    store.erase(TENANT, [single.subject], "dpo", "request")
    assert protector.open_identity(TENANT, "email", single.sealed) is None


def test_a_returning_person_is_sealed_under_a_new_key(
    store: MemoryKeyStore, protector: EnvelopeProtector
) -> None:
    (before,) = prepared(samples.chat_message())
    old = protector.seal(before)
    store.erase(
        TENANT, [protector.subject(TENANT, "email", "tanaka@example.com")], "dpo", "request"
    )
    (after,) = prepared(samples.chat_message())
    new = protector.seal(after)
    assert new["identities"]["email"][:26] != old["identities"]["email"][:26]  # another key id
    old_opened, new_opened = protector.open_batch([old, new])
    assert old_opened.erased == ("/identities/email", "/payload/text")
    assert new_opened.envelope == after


def test_the_pure_functions_need_a_key_for_each_value() -> None:
    (chat,) = prepared(samples.chat_message())
    key = new_data_key(TENANT, "s")
    with pytest.raises(ValueError, match="no key was given"):
        seal_envelope(chat, ["/identities/email", "/payload/text"], EnvelopeKeys({"email": key}))
    with pytest.raises(ValueError, match="a key of tenant 'globex'"):
        seal_envelope(
            chat, ["/identities/email"], EnvelopeKeys({"email": new_data_key("globex", "s")})
        )
    sealed = seal_envelope(
        chat,
        ["/identities/email", "/payload/text", "/payload/absent/deep"],
        EnvelopeKeys({"email": key}, key),
    )
    opened = open_envelope(sealed, ["/identities/email", "/payload/text"], {key.key_id: key})
    assert opened.envelope == chat


def test_one_identifier_under_one_key_seals_to_one_text_that_opens(
    protector: EnvelopeProtector,
) -> None:
    """Ingest reuses an identifier's sealed text while its key lives (a repeat of one
    encryption, never a second message under one nonce); payload values stay fresh."""
    first, second = prepared(profile_update(), profile_update())
    one, two = protector.seal_batch([first]) + protector.seal_batch([second])
    assert one["identities"] == two["identities"]
    assert one["payload"]["address"]["city"] != two["payload"]["address"]["city"]
    assert [o.envelope for o in protector.open_batch([one, two])] == [first, second]


def test_a_key_replaced_after_an_erasure_seals_afresh(
    store: MemoryKeyStore, protector: EnvelopeProtector
) -> None:
    (profile,) = prepared(profile_update())
    before = protector.seal(profile)
    email = protector.subject(TENANT, "email", profile["identities"]["email"])
    store.erase(TENANT, [email], "dpo", "request")
    after = protector.seal(profile)  # the person comes back: a new key for her email
    assert after["identities"]["email"] != before["identities"]["email"]
    assert after["identities"]["phone"] == before["identities"]["phone"]
    opened = protector.open_batch([before, after])
    assert opened[0].envelope["identities"]["email"] is None
    assert opened[1].envelope["identities"]["email"] == "tanaka@example.com"


def test_the_reuse_is_bounded(store: MemoryKeyStore) -> None:
    small = EnvelopeProtector(store, is_junk=IdentityRules().is_junk, cache_size=2)
    envelopes = prepared(*(profile_update() for _ in range(3)))
    for n, envelope in enumerate(envelopes):
        envelope["identities"]["customer_ref"] = f"C-{n}"
    sealed = [small.seal(e) for e in envelopes + envelopes[:1]]
    assert sealed[3]["identities"]["customer_ref"] != sealed[0]["identities"]["customer_ref"]
    assert [o.envelope for o in small.open_batch(sealed)] == envelopes + envelopes[:1]
