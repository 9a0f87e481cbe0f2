"""Simulated people and the identifiers they use on different channels.

Each person owns unique identifiers, so the truth (which person is behind an
identifier) is known exactly; a few junk values (``test@example.com``) are
shared by many people, as in real data, and have no single owner.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from services.simulator.profiles import Profile

GIVEN = [
    "Yuki",
    "Haruto",
    "Aoi",
    "Sota",
    "Mei",
    "Ren",
    "Hina",
    "Kaito",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Lucas",
    "Mia",
    "Ethan",
    "Sofia",
    "Mateo",
    "Chloe",
    "Leo",
]
FAMILY = [
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Watanabe",
    "Ito",
    "Yamamoto",
    "Nakamura",
    "Smith",
    "Johnson",
    "Garcia",
    "Miller",
    "Davis",
    "Lopez",
    "Wilson",
    "Clark",
]
DOMAINS = ["example.com", "mail.example.org", "example.net", "inbox.example.jp"]
AREA_CODES = ["212", "415", "646", "312", "617", "206", "512", "303", "718", "213"]
NETWORKS = ["x", "instagram", "line"]
JUNK_EMAILS = ["test@example.com", "noreply@example.com"]
MOBILE_PREFIXES = ("90", "80", "70")
REGIONS = ("US", "JP")


@dataclass(frozen=True)
class Person:
    """One real customer; the fields are normalized identifiers (what ingest stores)."""

    person_id: str
    given_name: str
    family_name: str
    email: str
    phone: str
    loyalty_id: str | None
    customer_ref: str | None
    social: str | None
    device_id: str
    home_store: str
    complainer: bool
    store_shopper: bool
    profile: Profile | None = None  # what a customer master knows (see ``profiles``)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def identities(self) -> dict[str, str]:
        ids = {"email": self.email, "phone": self.phone, "device_id": self.device_id}
        for kind, value in (
            ("loyalty_id", self.loyalty_id),
            ("customer_ref", self.customer_ref),
            ("social", self.social),
        ):
            if value:
                ids[kind] = value
        return ids


def make_person(index: int, rng: random.Random, region: str = "US") -> Person:
    """``region`` JP: a Japanese mobile number, from the same draws as the US one."""
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    area = rng.choice(AREA_CODES)
    exchange = rng.randint(201, 989)
    line = index % 10_000
    phone = f"+1{area}{exchange:03d}{line:04d}"
    if region == "JP":
        prefix = AREA_CODES.index(area)
        phone = f"+81{MOBILE_PREFIXES[prefix % 3]}{exchange:03d}{prefix}{line:04d}"
    return Person(
        person_id=f"p{index:06d}",
        given_name=given,
        family_name=family,
        email=f"{given.lower()}.{family.lower()}{index}@{rng.choice(DOMAINS)}",
        phone=phone,
        loyalty_id=f"L{100000 + index}" if rng.random() < 0.6 else None,
        customer_ref=f"crm-{index:07d}" if rng.random() < 0.6 else None,
        social=f"{rng.choice(NETWORKS)}:{given.lower()}_{family.lower()}{index}"
        if rng.random() < 0.35
        else None,
        device_id=f"dev-{rng.getrandbits(48):012x}",
        home_store=f"store-{rng.randint(1, 12):02d}",
        complainer=rng.random() < 0.12,
        store_shopper=rng.random() < 0.6,
    )


def make_population(count: int, rng: random.Random, region: str = "US") -> list[Person]:
    return [make_person(i, rng, region) for i in range(count)]


def messy_phone(e164: str, rng: random.Random) -> str:
    """The same number as people and systems actually type it.

    A Japanese number is written with its country code: ingest reads national numbers in the
    default region, which is the US unless a deployment sets it.
    """
    if e164.startswith("+81"):
        d = e164[3:]
        return rng.choice(
            [e164, f"+81 {d[:2]}-{d[2:6]}-{d[6:]}", f"+81-{d[:2]}-{d[2:6]}-{d[6:]}", f"+81 {d}"]
        )
    d = e164[2:]
    forms = [
        e164,
        f"({d[:3]}) {d[3:6]}-{d[6:]}",
        f"{d[:3]}-{d[3:6]}-{d[6:]}",
        f"{d[:3]}.{d[3:6]}.{d[6:]}",
        f"+1 {d[:3]} {d[3:6]} {d[6:]}",
        d,
    ]
    return rng.choice(forms)


def messy_email(email: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return email.capitalize()
    if roll < 0.25:
        return f" {email.upper()} "
    return email
