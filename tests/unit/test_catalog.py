"""The schema catalog: every type the hub promises exists, is versioned, and marks its PII."""

from __future__ import annotations

import pytest

from events.catalog import CHANNELS, load_catalog

PROMISED = {
    "phone": ["call.started", "call.completed", "call.missed", "voicemail.left"],
    "sms": ["sms.received", "sms.sent", "sms.delivered", "sms.failed"],
    "chat": ["chat.started", "chat.message_received", "chat.message_sent", "chat.ended"],
    "email": ["email.sent", "email.delivered", "email.opened", "email.clicked", "email.bounced",
              "email.replied", "email.unsubscribed"],
    "store": ["store.visited", "purchase.completed", "purchase.refunded"],
    "social": ["social.dm_received", "social.dm_sent", "social.mentioned"],
    "web": ["form.submitted", "web.page_viewed"],
    "account": ["customer.profile_updated", "consent.granted", "consent.withdrawn"],
}  # fmt: skip


def test_every_promised_type_has_a_schema() -> None:
    catalog = load_catalog()
    promised = {t for types in PROMISED.values() for t in types}
    assert promised == set(catalog.types)


@pytest.mark.parametrize(("channel", "types"), PROMISED.items())
def test_types_belong_to_their_channel(channel: str, types: list[str]) -> None:
    catalog = load_catalog()
    for name in types:
        assert channel in catalog.types[name].allowed_channels(), name


def test_purchase_channel_follows_the_payload() -> None:
    purchase = load_catalog().types["purchase.completed"]
    assert purchase.channel_for({"channel": "store"}) == "store"
    assert purchase.channel_for({"channel": "online"}) == "web"
    assert purchase.allowed_channels() <= set(CHANNELS)


def test_pii_fields_are_marked() -> None:
    catalog = load_catalog()
    assert catalog.types["chat.message_received"].pii_pointers(1) == ["/payload/text"]
    assert "/payload/fields" in catalog.types["form.submitted"].pii_pointers(1)
    # every identifier is personal: a device id or the CRM's own id links events to a person
    assert set(catalog.identity_pii_kinds()) == {
        "customer_ref",
        "device_id",
        "email",
        "phone",
        "loyalty_id",
        "social",
    }
    profile = catalog.types["customer.profile_updated"].pii_pointers(1)
    assert {"/payload/name/family_kana", "/payload/address/line1", "/payload/emails"} <= set(
        profile
    )


def test_purchase_completed_has_two_versions() -> None:
    purchase = load_catalog().types["purchase.completed"]
    assert purchase.versions == [1, 2]
    assert purchase.latest_version == 2
