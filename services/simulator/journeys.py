"""What a simulated person does over time, as touchpoint envelopes (before ingest normalizes them).

Long because it is the catalogue of behaviours, one method per journey, all on one person model.

Channels reveal different identifiers: calls show a phone number, store visits
a loyalty card, emails an address, social DMs a handle. Only some events carry
two at once (a web form with email and phone, a logged-in chat, an online
order), which is what lets identity resolution link and merge them.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from events.timestamps import format_instant
from services.simulator.population import JUNK_EMAILS, Person, messy_email, messy_phone

Event = dict[str, Any]
CAMPAIGNS = [
    "Winter sale",
    "New arrivals",
    "Loyalty points update",
    "Weekend offer",
    "Spring collection",
    "Member preview",
    "Back in stock",
    "Holiday gift guide",
]
AGENTS = ["Sato", "Kimura", "Hayashi", "Moore", "Chen", "Rivera"]
QUEUES = ["general", "billing", "orders", "vip"]
PRODUCTS = [
    ("SKU-COAT", "Wool coat", 12800),
    ("SKU-SCARF", "Cashmere scarf", 4200),
    ("SKU-BOOT", "Leather boots", 18900),
    ("SKU-TEE", "Organic tee", 2900),
    ("SKU-BAG", "Canvas tote", 3500),
    ("SKU-CAP", "Knit cap", 1900),
]
CHAT_LINES = [
    "Hi, where is my order?",
    "Can I change my delivery address?",
    "Do you have this in M?",
    "The item arrived damaged.",
    "Thanks, that helps!",
    "I'd like a refund.",
]


@dataclass
class Journeys:
    """Generates one tenant's events; every random choice comes from ``rng``."""

    rng: random.Random
    tenant: str
    junk_rate: float = 0.003
    order_seq: int = field(default=0)
    region: str = "US"  # JP: forms carry the Japanese name and its reading

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def event(
        self,
        type_: str,
        at: datetime,
        ids: dict[str, str],
        payload: dict[str, Any],
        source: str,
        conversation_id: str | None = None,
        version: int = 1,
    ) -> Event:
        ev: Event = {
            "event_id": self.new_id(),
            "tenant": self.tenant,
            "type": type_,
            "schema_version": version,
            "occurred_at": format_instant(at),
            "source": source,
            "identities": ids,
            "payload": payload,
        }
        if conversation_id:
            ev["conversation_id"] = conversation_id
        return ev

    def person_history(self, person: Person, start: datetime, end: datetime) -> list[Event]:
        span = (end - start).total_seconds()
        events: list[Event] = []
        activities = [
            (self.call, 0.6),
            (self.chat, 0.8),
            (self.web_session, 2.0),
            (self.social, 0.5 if person.social else 0.0),
            (self.store_trip, 1.8 if person.store_shopper else 0.2),
        ]
        for activity, rate in activities:
            for _ in range(self._poisson(rate)):
                at = start + timedelta(seconds=self.rng.random() * span)
                events += activity(person, at)
        if self.rng.random() < 0.45:
            events += self.form(person, start + timedelta(seconds=self.rng.random() * span))
        return events

    def campaign(self, people: list[Person], at: datetime, name: str) -> list[Event]:
        campaign_id = f"cmp-{self.rng.getrandbits(24):06x}"
        events: list[Event] = []
        for person in people:
            if self.rng.random() < 0.8:
                events += self.email_thread(person, at, campaign_id, name)
        return events

    def email_thread(self, p: Person, at: datetime, campaign_id: str, name: str) -> list[Event]:
        ids = {"email": messy_email(p.email, self.rng)}
        if p.customer_ref and self.rng.random() < 0.5:
            ids["customer_ref"] = p.customer_ref
        msg = f"<{self.new_id()}@mail.example.com>"
        base = {"message_id": msg, "campaign_id": campaign_id, "campaign_name": name}
        out = [self.event("email.sent", at, ids, {**base, "subject": name}, "esp")]
        if self.rng.random() < 0.02:
            out.append(
                self.event(
                    "email.bounced",
                    at + timedelta(seconds=30),
                    ids,
                    {**base, "bounce_type": "hard"},
                    "esp",
                )
            )
            return out
        out.append(
            self.event("email.delivered", at + timedelta(seconds=20), ids, dict(base), "esp")
        )
        if self.rng.random() < 0.38:
            opened = at + timedelta(hours=self.rng.random() * 48)
            out.append(self.event("email.opened", opened, ids, dict(base), "esp"))
            if self.rng.random() < 0.3:
                url = f"https://shop.example.com/{name.lower().replace(' ', '-')}"
                out.append(
                    self.event(
                        "email.clicked",
                        opened + timedelta(seconds=40),
                        ids,
                        {**base, "url": url},
                        "esp",
                    )
                )
            if self.rng.random() < 0.01:
                out.append(
                    self.event(
                        "email.unsubscribed", opened + timedelta(minutes=1), ids, dict(base), "esp"
                    )
                )
        return out

    def call(self, p: Person, at: datetime) -> list[Event]:
        ids = {"phone": messy_phone(p.phone, self.rng)}
        if p.customer_ref and self.rng.random() < 0.3:
            ids["customer_ref"] = p.customer_ref  # identified in the IVR
        call_id = f"call-{self.new_id()[:13]}"
        queue = self.rng.choice(QUEUES)
        if self.rng.random() < 0.15:
            out = [
                self.event(
                    "call.missed",
                    at,
                    ids,
                    {"call_id": call_id, "direction": "inbound", "queue": queue, "wait_s": 95},
                    "pbx",
                )
            ]
            if self.rng.random() < 0.5:
                out.append(
                    self.event(
                        "voicemail.left",
                        at + timedelta(seconds=100),
                        ids,
                        {"call_id": call_id, "duration_s": 34},
                        "pbx",
                    )
                )
            return out
        agent = self.rng.choice(AGENTS)
        duration = self.rng.randint(45, 900)
        complaint = p.complainer and self.rng.random() < 0.6
        done = {
            "call_id": call_id,
            "direction": "inbound",
            "duration_s": duration,
            "agent": agent,
            "queue": queue,
            "disposition": self.rng.choice(["resolved", "resolved", "escalated"]),
            "category": "complaint"
            if complaint
            else self.rng.choice(["order_status", "billing", "product"]),
        }
        return [
            self.event(
                "call.started",
                at,
                ids,
                {"call_id": call_id, "direction": "inbound", "queue": queue, "agent": agent},
                "pbx",
            ),
            self.event("call.completed", at + timedelta(seconds=duration), ids, done, "pbx"),
        ]

    def chat(self, p: Person, at: datetime) -> list[Event]:
        ids = {"email": messy_email(p.email, self.rng)}
        if self.rng.random() < 0.4:
            ids["device_id"] = p.device_id
        if p.customer_ref and self.rng.random() < 0.3:
            ids["customer_ref"] = p.customer_ref
        chat_id = f"chat-{self.new_id()[:13]}"
        out = [
            self.event(
                "chat.started",
                at,
                ids,
                {"chat_id": chat_id, "topic": "support"},
                "chat-widget",
                chat_id,
            )
        ]
        t = at
        for i in range(self.rng.randint(1, 4)):
            t += timedelta(seconds=self.rng.randint(10, 120))
            kind = "chat.message_received" if i % 2 == 0 else "chat.message_sent"
            body = {"chat_id": chat_id, "text": self.rng.choice(CHAT_LINES)}
            if kind == "chat.message_sent":
                body["agent"] = self.rng.choice(AGENTS)
            out.append(self.event(kind, t, ids, body, "chat-widget", chat_id))
        ended = {
            "chat_id": chat_id,
            "duration_s": (t - at).total_seconds() + 30,
            "resolved": self.rng.random() < 0.8,
        }
        if self.rng.random() < 0.5:
            ended["csat"] = self.rng.randint(1 if p.complainer else 3, 5)
        out.append(
            self.event("chat.ended", t + timedelta(seconds=30), ids, ended, "chat-widget", chat_id)
        )
        return out

    def web_session(self, p: Person, at: datetime) -> list[Event]:
        ids: dict[str, str] = {"device_id": p.device_id}
        logged_in = self.rng.random() < 0.3
        if logged_in:
            ids["email"] = p.email
        out = []
        session = f"s-{self.new_id()[:8]}"
        for i in range(self.rng.randint(1, 4)):
            page = self.rng.choice(["/", "/new", "/sale", "/stores", "/account"])
            out.append(
                self.event(
                    "web.page_viewed",
                    at + timedelta(seconds=30 * i),
                    dict(ids),
                    {"url": f"https://shop.example.com{page}", "session_id": session},
                    "web",
                )
            )
        if logged_in and self.rng.random() < 0.35:
            buy_ids = {
                "email": p.email,
                **({"customer_ref": p.customer_ref} if p.customer_ref else {}),
            }
            out.append(self.purchase(p, at + timedelta(minutes=5), buy_ids, "online"))
        return out

    def store_trip(self, p: Person, at: datetime) -> list[Event]:
        if p.loyalty_id:
            ids = {"loyalty_id": p.loyalty_id}
        else:
            ids = {"phone": messy_phone(p.phone, self.rng)}  # phone number given at the till
        out = [
            self.event(
                "store.visited",
                at,
                ids,
                {"store_id": p.home_store, "duration_s": 900},
                "store-sensors",
            )
        ]
        if self.rng.random() < 0.55:
            out.append(self.purchase(p, at + timedelta(minutes=12), ids, "store"))
            if self.rng.random() < 0.05:
                out.append(self.refund(out[-1], at + timedelta(days=3)))
        return out

    def purchase(self, p: Person, at: datetime, ids: dict[str, str], channel: str) -> Event:
        self.order_seq += 1
        lines = [self.rng.choice(PRODUCTS) for _ in range(self.rng.randint(1, 3))]
        items = [
            {"sku": sku, "name": name, "quantity": 1, "unit_price": str(price)}
            for sku, name, price in lines
        ]
        amount = str(sum(price for _, _, price in lines))
        order_id = f"ord-{self.order_seq:07d}"
        if channel == "store" and self.rng.random() < 0.1:  # an old till still sends v1
            v1 = {
                "order_id": order_id,
                "total": int(amount),
                "currency": "JPY",
                "store_id": p.home_store,
            }
            return self.event("purchase.completed", at, ids, v1, "pos-legacy", version=1)
        payload: dict[str, Any] = {
            "order_id": order_id,
            "amount": amount,
            "currency": "JPY",
            "items": items,
            "channel": channel,
        }
        if channel == "store":
            payload["store_id"] = p.home_store
        source = "pos" if channel == "store" else "shop"
        return self.event("purchase.completed", at, ids, payload, source, version=2)

    def refund(self, purchase: Event, at: datetime) -> Event:
        pay = purchase["payload"]
        amount = pay["amount"] if "amount" in pay else str(pay["total"])
        body = {
            "order_id": pay["order_id"],
            "amount": amount,
            "currency": "JPY",
            "reason": "damaged",
            "channel": "store",
        }
        return self.event("purchase.refunded", at, dict(purchase["identities"]), body, "pos")

    def social(self, p: Person, at: datetime) -> list[Event]:
        assert p.social is not None
        network, handle = p.social.split(":", 1)
        ids = {"social": f"{network}:@{handle}" if self.rng.random() < 0.3 else p.social}
        base = {"network": network, "handle": handle}
        if self.rng.random() < 0.4:
            sentiment = "negative" if p.complainer else self.rng.choice(["positive", "neutral"])
            return [
                self.event(
                    "social.mentioned", at, ids, {**base, "sentiment": sentiment}, "social-listener"
                )
            ]
        if self.rng.random() < 0.3:
            ids = {**ids, "email": p.email}  # gave their email in the DM
        return [
            self.event(
                "social.dm_received",
                at,
                ids,
                {**base, "text": "Is the coat back in stock?"},
                "social-inbox",
            ),
            self.event(
                "social.dm_sent",
                at + timedelta(minutes=7),
                ids,
                {**base, "text": "Yes! Restocked today.", "agent": self.rng.choice(AGENTS)},
                "social-inbox",
            ),
        ]

    def form(self, p: Person, at: datetime) -> list[Event]:
        email = p.email
        if self.rng.random() < self.junk_rate * 30:
            email = self.rng.choice(JUNK_EMAILS)  # typed a throwaway address
        ids = {"email": messy_email(email, self.rng), "phone": messy_phone(p.phone, self.rng)}
        fields = {"name": p.name, "topic": self.rng.choice(["newsletter", "contact", "warranty"])}
        if self.region == "JP" and p.profile:
            fields = {"name": p.profile.name, "name_kana": p.profile.kana, "topic": fields["topic"]}
        return [
            self.event(
                "form.submitted",
                at,
                ids,
                {
                    "form_id": "contact-us",
                    "page_url": "https://shop.example.com/contact",
                    "fields": fields,
                },
                "web-forms",
            )
        ]

    def registration(self, p: Person, at: datetime, email: str) -> list[Event]:
        """Signing up on the web shop again, with a mistyped email, from the usual device."""
        assert p.profile is not None
        fields = {
            "name": p.profile.name,
            "name_kana": p.profile.kana,
            "postal_code": p.profile.address.postal_code,
        }
        if self.region != "JP":
            fields["name"] = p.name
        body = {
            "form_id": "register",
            "page_url": "https://shop.example.com/register",
            "fields": fields,
        }
        ids = {"email": email, "device_id": p.device_id}
        return [self.event("form.submitted", at, ids, body, "web-forms")]

    def _poisson(self, mean: float) -> int:
        count, threshold, product = 0, pow(2.718281828, -mean), self.rng.random()
        while product > threshold:
            count += 1
            product *= self.rng.random()
        return count
