"""A profile's listed emails and phones link like its identities: the customer master's word."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from events.intake import EventIntake, PreparedEvent
from events.privacy.protector import EnvelopeProtector
from events.problems import Problem
from events.timestamps import now_utc
from events.touchpoint import decode_touchpoint
from services.identity.outcomes import Sighting
from services.identity.resolver import IdentityResolver
from services.identity.rules import IdentityRules
from tests import samples
from tests.privacy_memory import MemoryKeyStore

TENANT = "acme"


def profile(**payload: Any) -> dict[str, Any]:
    return samples.chat_message(
        type="customer.profile_updated",
        source="crm",
        identities={"customer_ref": "C-7", "email": "hana@example.jp"},
        payload={"name": {"display": "Hana Sato"}, **payload},
    )


def logged(
    intake: EventIntake, *raws: dict[str, Any]
) -> list[dict[str, Any]] | list[list[Problem]]:
    out: list[Any] = []
    for result in intake.prepare_batch(list(raws), TENANT, now_utc()):
        out.append(orjson.loads(result.value) if isinstance(result, PreparedEvent) else result)
    return out


def test_the_listed_values_beyond_the_identities_are_logged_normalized_once_each() -> None:
    (record,) = logged(
        EventIntake("JP"),
        profile(
            emails=["hana@example.jp", " Hana.Sato@Example.ORG ", "hana.sato@example.org"],
            phones=["090-1234-5678"],
        ),
    )
    assert isinstance(record, dict)
    assert record["linked"] == [
        ["email", "hana.sato@example.org", "hana.sato@example.org"],
        ["phone", "+819012345678", "+819012345678"],
    ]
    (chat,) = logged(EventIntake("JP"), samples.chat_message())
    assert isinstance(chat, dict) and "linked" not in chat  # only profiles vouch for more


def test_an_unusable_listed_value_refuses_the_event_and_says_where() -> None:
    (problems,) = logged(EventIntake("JP"), profile(emails=["hana@example.jp", "not-an-email"]))
    assert isinstance(problems, list)
    assert [p.pointer for p in problems] == ["/payload/emails/1"]


def test_sealed_each_under_its_own_subject_key_and_shredded_with_it() -> None:
    store = MemoryKeyStore()
    protector = EnvelopeProtector(store, is_junk=IdentityRules().is_junk)
    (record,) = logged(EventIntake("JP", protector=protector), profile(emails=["h.s@example.org"]))
    assert isinstance(record, dict)
    ((kind, subject, sealed),) = record["linked"]
    assert kind == "email" and subject == protector.subject(TENANT, "email", "h.s@example.org")
    assert "h.s@example.org" not in orjson.dumps(record).decode()
    assert protector.open_identity(TENANT, "email", sealed) == "h.s@example.org"
    store.erase(TENANT, [subject], "dpo", "request")
    assert protector.open_identity(TENANT, "email", sealed) is None


def test_the_master_row_joins_the_customers_its_values_had_apart() -> None:
    intake, resolver = EventIntake("JP"), IdentityResolver({})
    raws = [
        samples.chat_message(identities={"email": "hana.work@example.org"}),
        samples.call_completed(identities={"phone": "090-1234-5678"}),
        profile(emails=["hana@example.jp", "hana.work@example.org"], phones=["090-1234-5678"]),
    ]
    records = logged(intake, *raws)
    sightings = [Sighting.of_logged(decode_touchpoint(orjson.dumps(r)).as_dict()) for r in records]
    assert sightings[2].linked and not sightings[0].linked  # through the wire form and back
    chat, call, master = resolver.resolve_batch("touchpoints-0", list(enumerate(sightings)))
    assert chat.customer_id != call.customer_id  # nothing linked them before the master
    survivor = resolver.survivor
    assert {survivor(_id(chat)), survivor(_id(call)), survivor(_id(master))} == {
        resolver.customer_of(TENANT, "email", "hana.work@example.org")
    }
    customer = resolver.customer(survivor(_id(master)))
    assert customer is not None
    assert customer.sealed["hana.work@example.org"] == "hana.work@example.org"  # as logged


def _id(resolution: Any) -> uuid.UUID:
    return uuid.UUID(resolution.customer_id)
