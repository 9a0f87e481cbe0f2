"""What a customer master knows of a simulated person: name in both scripts, reading, address, birthday.

Drawn from a generator of their own (seeded from the simulation's seed), never from the one
that draws the touchpoints, so a simulation's events are the same with or without them. The
Latin name is the person's ``given_name``/``family_name``; the Japanese one is written in
kanji for Japanese names and in katakana for others, with its katakana reading. Some people
share a household: the address of an earlier person with their family name (and another
given name).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import phonenumbers

from services.simulator.places import BUILDINGS, TOWNS

#: Latin name -> the ways it is written in kanji (a person has one) and its reading.
FAMILY_KANJI = {
    "Sato": (("佐藤",), "サトウ"), "Suzuki": (("鈴木",), "スズキ"),
    "Takahashi": (("高橋", "髙橋"), "タカハシ"), "Tanaka": (("田中",), "タナカ"),
    "Watanabe": (("渡辺", "渡邊", "渡部"), "ワタナベ"), "Ito": (("伊藤", "伊東"), "イトウ"),
    "Yamamoto": (("山本",), "ヤマモト"), "Nakamura": (("中村",), "ナカムラ"),
    "Smith": ((), "スミス"), "Johnson": ((), "ジョンソン"), "Garcia": ((), "ガルシア"),
    "Miller": ((), "ミラー"), "Davis": ((), "デイビス"), "Lopez": ((), "ロペス"),
    "Wilson": ((), "ウィルソン"), "Clark": ((), "クラーク"),
}  # fmt: skip
GIVEN_KANJI = {
    "Yuki": (("由紀", "優希", "雪"), "ユキ"), "Haruto": (("陽翔", "大翔", "悠人"), "ハルト"),
    "Aoi": (("葵", "蒼", "碧"), "アオイ"), "Sota": (("蒼太", "颯太", "奏太"), "ソウタ"),
    "Mei": (("芽依", "芽衣", "明"), "メイ"), "Ren": (("蓮", "廉", "怜"), "レン"),
    "Hina": (("陽菜", "日菜", "雛"), "ヒナ"), "Kaito": (("海斗", "快斗", "海翔"), "カイト"),
    "Emma": ((), "エマ"), "Liam": ((), "リアム"), "Olivia": ((), "オリビア"), "Noah": ((), "ノア"),
    "Ava": ((), "エイバ"), "Lucas": ((), "ルーカス"), "Mia": ((), "ミア"), "Ethan": ((), "イーサン"),
    "Sofia": ((), "ソフィア"), "Mateo": ((), "マテオ"), "Chloe": ((), "クロエ"), "Leo": ((), "レオ"),
}  # fmt: skip
#: Old kanji forms a clerk may type in their common form (the matcher reads both alike).
COMMON_FORM = str.maketrans({"髙": "高", "邊": "辺"})
HOUSEHOLD_RATE = 0.15
LANDLINE_RATE = 0.3


@dataclass(frozen=True)
class Address:
    postal_code: str  # 123-4567
    prefecture: str
    city: str
    town: str
    prefecture_en: str
    city_en: str
    town_en: str
    house: tuple[int, int, int]  # 丁目, 番地, 号
    building: tuple[str, str] | None  # (Japanese, English)
    room: int | None
    area_code: str

    def line1(self) -> str:
        return f"{self.town}{self.house[0]}-{self.house[1]}-{self.house[2]}"

    def line2(self) -> str:
        return f"{self.building[0]} {self.room}" if self.building else ""

    def line1_en(self) -> str:
        return f"{self.house[0]}-{self.house[1]}-{self.house[2]} {self.town_en}"

    def line2_en(self) -> str:
        return f"{self.building[1]} {self.room}" if self.building else ""


@dataclass(frozen=True)
class Profile:
    family: str  # as the person writes it in Japanese (kanji, or katakana for other names)
    given: str
    family_kana: str  # katakana reading
    given_kana: str
    family_en: str
    given_en: str
    birthday: dt.date
    address: Address
    landline: str | None  # E.164

    @property
    def name(self) -> str:
        return f"{self.family} {self.given}"

    @property
    def kana(self) -> str:
        return f"{self.family_kana} {self.given_kana}"


def make_profiles(people: list[tuple[int, str, str]], seed: int) -> list[Profile]:
    """One profile per ``(index, given_name, family_name)``, in order, deterministic for ``seed``."""
    rng = random.Random(f"profiles:{seed}")
    profiles: list[Profile] = []
    homes: dict[str, tuple[Address, set[str]]] = {}  # family name -> the last home, who lives there
    for index, given, family in people:
        home = homes.get(family) if rng.random() < HOUSEHOLD_RATE else None
        if home is None or given in home[1]:  # a family does not name two children alike
            home = (_address(rng), set())
        home[1].add(given)
        homes[family] = home
        profiles.append(_profile(index, given, family, home[0], rng))
    return profiles


def _profile(index: int, given: str, family: str, address: Address, rng: random.Random) -> Profile:
    family_written, family_kana = _written(FAMILY_KANJI, family, rng)
    given_written, given_kana = _written(GIVEN_KANJI, given, rng)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(56 * 365))
    landline = _landline(address.area_code, index, rng) if rng.random() < LANDLINE_RATE else None
    return Profile(
        family_written,
        given_written,
        family_kana,
        given_kana,
        family,
        given,
        born,
        address,
        landline,
    )


def _written(
    table: dict[str, tuple[tuple[str, ...], str]], latin: str, rng: random.Random
) -> tuple[str, str]:
    kanji, kana = table[latin]
    return (rng.choice(kanji) if kanji else kana), kana


def _address(rng: random.Random) -> Address:
    postal, pref, city, town, pref_en, city_en, town_en, area = rng.choice(TOWNS)
    house = (rng.randint(1, 5), rng.randint(1, 30), rng.randint(1, 20))
    building = rng.choice(BUILDINGS) if rng.random() < 0.4 else None
    room = rng.choice((1, 2, 3, 5, 8, 12)) * 100 + rng.randint(1, 9) if building else None
    return Address(postal, pref, city, town, pref_en, city_en, town_en, house, building, room, area)


def _landline(area: str, index: int, rng: random.Random) -> str:
    """A fixed line in the person's area: 9 national digits, the last four the person's index."""
    width = 5 - len(area)  # area code and exchange: 5 digits
    while True:  # not every exchange exists in every area (011-9xx does not)
        exchange = rng.randint(2 * 10 ** (width - 1), 10**width - 1)
        number = f"+81{area}{exchange}{index % 10_000:04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number
