"""Every customer event the aggregate can raise crosses the topic in its contract's form.

The relay maps each domain event field by field; a renamed attribute of
``Customer`` breaks the mapping here (and the schema check catches a contract
that drifted from ``schemas/topics/customers/v1.json``).
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema
import orjson
import pytest

from events.contracts.commands import (
    DetachIdentity,
    EraseCustomer,
    MergeCustomers,
    decode_command,
    encode_command,
)
from events.contracts.customers import PUBLIC_FIELDS, ContractError, CustomerEvent
from events.contracts.deadletter import dead_letter
from events.contracts.resolved import (
    Absorb,
    Detached,
    Erased,
    MergedInto,
    ResolvedTouchpoint,
    decode_resolved,
    encode_control,
)
from events.contracts.schemas import topic_schema
from services.identity.domain import Customer, MergeDecision
from services.identity.relay import customer_event
from tests import samples


def _validate(topic: str, body: Any) -> None:
    jsonschema.Draft7Validator(topic_schema(topic)).validate(body)


def _every_customer_event() -> list[tuple[Any, Customer]]:
    """One of each event: created, linked, earlier activity, merges, detach, consent, erasure."""
    a = Customer(tenant="t", seed="t|email:a@x.io", first_seen="2026-01-02T00:00:00.000Z",
                 cause_event_id=str(uuid.uuid4()))  # fmt: skip
    b = Customer(tenant="t", seed="t|phone:+14155550100", first_seen="2026-01-01T00:00:00.000Z",
                 cause_event_id=str(uuid.uuid4()), split_from=uuid.uuid4())  # fmt: skip
    a.link_identity("email", "a@x.io", "e1", "tl1:sealed-a@x.io")
    a.note_identity("email", "b@x.io", "e1")
    a.saw_earlier_activity("2025-12-31T00:00:00.000Z", "e2")
    b.absorb(a.id, {"email": ["a@x.io"]}, a.first_seen, "phone:+14155550100", "e3",
             (uuid.uuid4(),), (uuid.uuid4(),))  # fmt: skip
    a.merge_into(b.id, "phone:+14155550100", "e3")
    c = Customer(tenant="t", seed="t|email:c@x.io", first_seen="2026-01-03T00:00:00.000Z",
                 cause_event_id=str(uuid.uuid4()))  # fmt: skip
    decided = MergeDecision("suggestion", "supervisor:k1", "2026-01-04T00:00:00.000Z",
                            "name_postal,name.full,postal_code.same", 0.91, "s1").as_dict()  # fmt: skip
    b.absorb(c.id, {}, c.first_seen, "same person", "cmd1", decided=decided)
    c.merge_into(b.id, "same person", "cmd1", decided)
    b.link_identity("phone", "+14155550100", "e4")
    b.detach_identity("phone", "+14155550100", uuid.uuid4(), "wrong person")
    b.change_consent("email", False, "e5")
    b.erase("asked to be forgotten")
    return [(event, owner) for owner in (a, b, c) for event in owner.collect_events()]


def test_every_customer_event_type_has_a_public_mapping_that_fits_the_schema() -> None:
    published = set()
    for event, owner in _every_customer_event():
        message = customer_event(event, owner)
        _validate("customers", orjson.loads(message.encode()))
        assert CustomerEvent.decode(message.encode()) == message
        published.add(message.type)
    raised_by_customer = {name for name, value in vars(Customer).items()  # eventsourcing's own
                          if isinstance(value, type) and hasattr(value, "apply")  # base classes
                          and name not in ("Event", "Created")}  # fmt: skip
    assert published == set(PUBLIC_FIELDS) == raised_by_customer


def test_a_message_with_fields_its_contract_does_not_name_is_refused() -> None:
    event, owner = _every_customer_event()[1]  # IdentityLinked
    message = customer_event(event, owner)
    with pytest.raises(ContractError, match="IdentityLinked publishes"):
        CustomerEvent(message.type, message.tenant, message.customer_id, message.version,
                      message.recorded_at, {**message.data, "value_renamed": "x"}, message.profile)  # fmt: skip


def test_a_merge_written_before_decided_merges_existed_still_reads() -> None:
    merged = [customer_event(e, o) for e, o in _every_customer_event()]
    for message in (m for m in merged if m.type in ("CustomersMerged", "MergedIntoSurvivor")):
        old = {k: v for k, v in message.data.items() if k != "decided"}
        body = {**orjson.loads(message.encode()), "data": old}
        _validate("customers", body)
        assert CustomerEvent.decode(orjson.dumps(body)).data == old
        jsonschema.Draft7Validator(topic_schema("customers", 1)).validate(body)


def test_resolved_touchpoints_and_controls_round_trip_and_fit_the_schema() -> None:
    envelope = {**samples.call_completed(), "tenant": "t", "received_at": "2026-11-01T00:00:00.000Z",
                "channel": "phone", "occurred_at": "2026-11-01T00:00:00.000Z"}  # fmt: skip
    customer, other = str(uuid.uuid4()), str(uuid.uuid4())
    resolved = ResolvedTouchpoint(envelope, customer, ("replayed",), (3, 17))
    _validate("touchpoints.resolved", orjson.loads(resolved.encode()))
    assert decode_resolved(resolved.encode()) == resolved
    for control in (MergedInto("t", customer, other), Erased("t", customer),
                    Detached("t", customer, "ab12", other, ("cd34",)),
                    Absorb("t", other, {"e1": ["call.completed", "phone", 1, None, []]})):  # fmt: skip
        _validate("touchpoints.resolved", orjson.loads(encode_control(control)))
        assert decode_resolved(encode_control(control)) == control


def test_commands_and_dead_letters_fit_their_schemas() -> None:
    for command in (DetachIdentity("t", "c1", "email", "a@x.io", "wrong"),
                    EraseCustomer("t", "c2", "gdpr", customer_id=str(uuid.uuid4())),
                    MergeCustomers("t", "c3", str(uuid.uuid4()), str(uuid.uuid4()), "one person",
                                   "supervisor:k1", "2026-01-04T00:00:00.000Z", "email_typo", 0.9,
                                   "s1")):  # fmt: skip
        _validate("identity.commands", orjson.loads(encode_command(command)))
        assert decode_command(encode_command(command)) == command
    letter = dead_letter("identity", "no_usable_identifier", "only junk", event={"event_id": "e"},
                         topic="touchpoints")  # fmt: skip
    _validate("touchpoints.deadletter", orjson.loads(letter.encode()))
