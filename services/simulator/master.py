"""A customer-master export (CRM rows with several identifiers each), dirty as real ones are.

A share of the people get a row: their customer number (a new one for those the touchpoints
never showed one), name and reading, address, birthday, email, phones and loyalty card, in
the columns a Japanese or an English CRM exports (both of which ``touchline import customers
--preset auto`` recognises). The dirt: emails with typos, phones and postal codes in every
format, full-width forms, rows exported twice, and people registered twice (a second customer
number, a mistyped email, no loyalty card), some of them on the web shop from their own device.
Every row knows whose it is, and which normalized identifiers it carries, for the truth file.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field, replace
from typing import Literal

from services.simulator import dirt
from services.simulator.population import Person
from services.simulator.profiles import COMMON_FORM, Profile

Layout = Literal["japanese", "english"]
LAYOUTS: tuple[Layout, ...] = ("japanese", "english")
COLUMNS: dict[Layout, tuple[str, ...]] = {
    "japanese": ("会員番号", "姓", "名", "セイ", "メイ", "生年月日", "郵便番号", "都道府県", "市区町村",
                 "住所1", "住所2", "電話番号", "携帯電話番号", "メールアドレス", "ポイントカード番号"),
    "english": ("Customer ID", "First Name", "Last Name", "Birthday", "Email", "Phone", "Mobile",
                "Address 1", "Address 2", "City", "State", "Zip", "Country", "Loyalty ID"),
}  # fmt: skip
SHOWA = (dt.date(1926, 12, 25), dt.date(1989, 1, 8))
#: Second customer numbers: this plus the person's index (first ones are below it).
SECOND_REF_BASE = 5_000_000


@dataclass(frozen=True)
class MasterConfig:
    share: float = 0.6
    layout: Layout = "japanese"
    second_registration_rate: float = 0.05
    duplicate_row_rate: float = 0.02
    email_typo_rate: float = 0.03
    web_registration_rate: float = 0.5  # second registrations made on the web shop


@dataclass(frozen=True)
class Entry:
    """What the CRM holds for one registration, before it is written out."""

    person: Person
    customer_ref: str
    email: str | None  # normalized (a typo is the address as registered)
    mobile: str | None  # E.164
    landline: str | None
    loyalty_id: str | None
    birthday: bool  # whether the row gives it
    kana: bool  # whether the row gives the reading
    second: bool

    @property
    def profile(self) -> Profile:
        assert self.person.profile is not None
        return self.person.profile

    def identities(self) -> tuple[tuple[str, str], ...]:
        found = [
            ("customer_ref", self.customer_ref),
            ("email", self.email),
            ("phone", self.landline),
            ("phone", self.mobile),
            ("loyalty_id", self.loyalty_id),
        ]
        return tuple((kind, value) for kind, value in found if value)


@dataclass(frozen=True)
class MasterRow:
    """One row as written (column -> text) and whose it is."""

    person_id: str
    customer_ref: str
    cells: dict[str, str]
    duplicate: str | None  # "copy" (the row again) or "second_registration"
    identities: tuple[tuple[str, str], ...]  # normalized (kind, value)


@dataclass
class MasterExport:
    layout: Layout
    rows: list[MasterRow] = field(default_factory=list)
    #: second registrations made on the web shop: (person, the mistyped email)
    web_registrations: list[tuple[Person, str]] = field(default_factory=list)

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS[self.layout]


def make_master(people: list[Person], config: MasterConfig, rng: random.Random) -> MasterExport:
    chosen = sorted(
        rng.sample(people, round(config.share * len(people))), key=lambda p: p.person_id
    )
    entries = [_first(p, config, rng) for p in chosen]
    export = MasterExport(config.layout)
    for person in chosen:
        if rng.random() < config.second_registration_rate:
            second = _second(person, rng)
            entries.append(second)
            if second.email and rng.random() < config.web_registration_rate:
                export.web_registrations.append((person, second.email))
    entries.sort(key=lambda e: e.customer_ref)
    rows = [_row(entry, config.layout, rng) for entry in entries]
    placed = [(float(i), row) for i, row in enumerate(rows)]
    placed += [
        (i + rng.randint(1, 5) - 0.5, replace(row, duplicate="copy"))  # exported again
        for i, row in enumerate(rows)
        if rng.random() < config.duplicate_row_rate
    ]
    export.rows = [row for _, row in sorted(placed, key=lambda p: p[0])]
    return export


def _first(p: Person, config: MasterConfig, rng: random.Random) -> Entry:
    email = dirt.email_typo(p.email, rng) if rng.random() < config.email_typo_rate else p.email
    return Entry(
        p,
        p.customer_ref or f"crm-{int(p.person_id[1:]):07d}",
        None if rng.random() < 0.03 else email,
        None if rng.random() < 0.05 else p.phone,
        p.profile.landline if p.profile else None,
        p.loyalty_id,
        rng.random() < 0.9,
        rng.random() < 0.95,
        second=False,
    )


def _second(p: Person, rng: random.Random) -> Entry:
    """Registered again: a new number, a mistyped email, no card; a phone only now and then."""
    roll = rng.random()
    landline = p.profile.landline if p.profile and roll < 0.5 else None
    return Entry(
        p,
        f"crm-{SECOND_REF_BASE + int(p.person_id[1:]):07d}",
        dirt.email_typo(p.email, rng),
        p.phone if 0.5 <= roll < 0.75 else None,
        landline,
        None,
        rng.random() < 0.7,
        rng.random() < 0.7,
        second=True,
    )


def _row(entry: Entry, layout: Layout, rng: random.Random) -> MasterRow:
    cells = _japanese(entry, rng) if layout == "japanese" else _english(entry, rng)
    cells = {column: text for column, text in cells.items() if text}
    duplicate = "second_registration" if entry.second else None
    return MasterRow(
        entry.person.person_id, entry.customer_ref, cells, duplicate, entry.identities()
    )


def _phones(entry: Entry, rng: random.Random) -> tuple[str, str]:
    """(the first phone column, the mobile column): a landline comes first when there is one."""
    if entry.landline:
        first, mobile = entry.landline, entry.mobile
    elif entry.mobile and rng.random() < 0.5:
        first, mobile = entry.mobile, None
    else:
        first, mobile = None, entry.mobile
    typed = [dirt.phone_as_typed(n, rng) if n else "" for n in (first, mobile)]
    return typed[0], typed[1]


def _japanese(entry: Entry, rng: random.Random) -> dict[str, str]:
    pr, home = entry.profile, entry.profile.address
    family, given = pr.family, pr.given
    if rng.random() < 0.3:
        family = family.translate(COMMON_FORM)
    if rng.random() < 0.03:
        family, given = f"{family}\u3000{given}", ""  # the whole name typed into 姓
    elif rng.random() < 0.05:
        family += "\u3000"
    phone, mobile = _phones(entry, rng)
    return {
        "会員番号": entry.customer_ref,
        "姓": family,
        "名": given,
        "セイ": dirt.kana_as_typed(pr.family_kana, rng) if entry.kana else "",
        "メイ": dirt.kana_as_typed(pr.given_kana, rng) if entry.kana else "",
        "生年月日": _japanese_date(pr, rng) if entry.birthday else "",
        "郵便番号": dirt.postal_as_typed(home.postal_code, rng),
        "都道府県": home.prefecture if rng.random() < 0.8 else _short_prefecture(home.prefecture),
        "市区町村": home.city,
        "住所1": dirt.house_as_typed(home.town, home.house, rng),
        "住所2": home.line2(),
        "電話番号": phone,
        "携帯電話番号": mobile,
        "メールアドレス": dirt.email_as_typed(entry.email, rng) if entry.email else "",
        "ポイントカード番号": entry.loyalty_id or "",
    }


def _short_prefecture(full: str) -> str:
    """東京 for 東京都, 京都 for 京都府 (北海道 has no short form)."""
    return full if full == "北海道" else full[:-1]


def _japanese_date(profile: Profile, rng: random.Random) -> str:
    day = profile.birthday
    forms = [
        f"{day.year}/{day.month:02d}/{day.day:02d}",
        f"{day.year}/{day.month}/{day.day}",
        day.isoformat(),
        day.strftime("%Y%m%d"),
        f"{day.year}年{day.month}月{day.day}日",
    ]
    if SHOWA[0] <= day < SHOWA[1]:
        forms.append(f"昭和{day.year - SHOWA[0].year + 1}年{day.month}月{day.day}日")
    return rng.choice(forms)


def _english(entry: Entry, rng: random.Random) -> dict[str, str]:
    pr, home = entry.profile, entry.profile.address
    last = pr.family_en.upper() if rng.random() < 0.05 else pr.family_en
    phone, mobile = _phones(entry, rng)
    day = pr.birthday
    return {
        "Customer ID": entry.customer_ref,
        "First Name": pr.given_en,
        "Last Name": last,
        "Birthday": (day.strftime("%m/%d/%Y") if rng.random() < 0.7 else day.isoformat())
        if entry.birthday
        else "",
        "Email": dirt.email_as_typed(entry.email, rng) if entry.email else "",
        "Phone": phone,
        "Mobile": mobile,
        "Address 1": home.line1_en(),
        "Address 2": home.line2_en(),
        "City": home.city_en,
        "State": home.prefecture_en,
        "Zip": dirt.postal_as_typed(home.postal_code, rng),
        "Country": rng.choice(("Japan", "Japan", "JP", "日本")),
        "Loyalty ID": entry.loyalty_id or "",
    }
