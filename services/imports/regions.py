"""Prefectures and countries as exports spell them, to one form each.

A prefecture becomes its full name (``東京`` and ``Tokyo`` -> ``東京都``); a country becomes its
ISO 3166-1 alpha-2 code from the code itself or a common English or Japanese name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

#: JIS X 0401 order (code 01-47), full name, romaji.
PREFECTURES = (
    ("北海道", "hokkaido"), ("青森県", "aomori"), ("岩手県", "iwate"), ("宮城県", "miyagi"),
    ("秋田県", "akita"), ("山形県", "yamagata"), ("福島県", "fukushima"), ("茨城県", "ibaraki"),
    ("栃木県", "tochigi"), ("群馬県", "gunma"), ("埼玉県", "saitama"), ("千葉県", "chiba"),
    ("東京都", "tokyo"), ("神奈川県", "kanagawa"), ("新潟県", "niigata"), ("富山県", "toyama"),
    ("石川県", "ishikawa"), ("福井県", "fukui"), ("山梨県", "yamanashi"), ("長野県", "nagano"),
    ("岐阜県", "gifu"), ("静岡県", "shizuoka"), ("愛知県", "aichi"), ("三重県", "mie"),
    ("滋賀県", "shiga"), ("京都府", "kyoto"), ("大阪府", "osaka"), ("兵庫県", "hyogo"),
    ("奈良県", "nara"), ("和歌山県", "wakayama"), ("鳥取県", "tottori"), ("島根県", "shimane"),
    ("岡山県", "okayama"), ("広島県", "hiroshima"), ("山口県", "yamaguchi"), ("徳島県", "tokushima"),
    ("香川県", "kagawa"), ("愛媛県", "ehime"), ("高知県", "kochi"), ("福岡県", "fukuoka"),
    ("佐賀県", "saga"), ("長崎県", "nagasaki"), ("熊本県", "kumamoto"), ("大分県", "oita"),
    ("宮崎県", "miyazaki"), ("鹿児島県", "kagoshima"), ("沖縄県", "okinawa"),
)  # fmt: skip
COUNTRIES = {
    "japan": "JP", "日本": "JP", "日本国": "JP", "united states": "US", "united states of america": "US",
    "usa": "US", "us": "US", "アメリカ": "US", "アメリカ合衆国": "US", "米国": "US",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "イギリス": "GB", "canada": "CA",
    "australia": "AU", "germany": "DE", "france": "FR", "china": "CN", "中国": "CN",
    "south korea": "KR", "korea": "KR", "韓国": "KR", "taiwan": "TW", "台湾": "TW",
    "singapore": "SG", "hong kong": "HK", "香港": "HK", "india": "IN", "brazil": "BR",
    "mexico": "MX", "spain": "ES", "italy": "IT", "netherlands": "NL",
}  # fmt: skip
_ROMAJI_SUFFIX = re.compile(r"[\s-]*(ken|to|fu|prefecture|pref\.?)$")


@cache
def _prefecture_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for code, (full, roman) in enumerate(PREFECTURES, start=1):
        short = full if full == "北海道" else full[:-1]
        for name in (full, short, roman, f"{code:02d}", str(code)):
            names[name] = full
    return names


def prefecture(text: str) -> str | None:
    """The full prefecture name, or None when ``text`` names none."""
    folded = unicodedata.normalize("NFKC", text).strip().casefold().replace("ō", "o")
    folded = folded.removeprefix("jp-")
    names = _prefecture_names()
    if folded in names:
        return names[folded]
    return names.get(_ROMAJI_SUFFIX.sub("", folded).replace("ou", "o"))


def country_code(text: str) -> str | None:
    folded = unicodedata.normalize("NFKC", text).strip()
    if len(folded) == 2 and folded.isascii() and folded.isalpha():
        return folded.upper()
    return COUNTRIES.get(folded.casefold().rstrip("."))
