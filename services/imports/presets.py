"""Mappings for common exports, and the choice of the one whose columns fit a file best.

Column names: Shopify's from its customer CSV template (First Name ... Accepts SMS Marketing)
and, for the newer admin export, the ``Customer ID`` / ``Default Address ...`` names;
HubSpot's from its contact property labels. The Japanese preset gathers the names common
EC and CRM packages use (姓, セイ, 姓（カナ）, 〒, 都道府県 ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from services.imports.header import column_key
from services.imports.mapping import Consent, CustomerMapping, Options

Aliases = Mapping[str, Sequence[str]]

JAPANESE: Aliases = {
    "customer_ref": ("会員番号", "会員ID", "顧客番号", "顧客ID", "顧客コード", "お客様番号"),
    "loyalty_id": ("ポイントカード番号", "会員カード番号"),
    "name.family": ("姓", "氏", "名字", "苗字", "お名前(姓)"),
    "name.given": ("名", "お名前(名)"),
    "name.family_kana": ("セイ", "せい", "姓(カナ)", "姓(フリガナ)", "姓カナ", "フリガナ(姓)",
                         "お名前(フリガナ・姓)", "お名前(カナ姓)"),
    "name.given_kana": ("メイ", "めい", "名(カナ)", "名(フリガナ)", "名カナ", "フリガナ(名)",
                        "お名前(フリガナ・名)", "お名前(カナ名)"),
    "name.full": ("氏名", "お名前", "名前", "顧客名"),
    "name.full_kana": ("フリガナ", "氏名(カナ)", "氏名(フリガナ)", "氏名カナ", "ふりがな", "カナ"),
    "address.postal_code": ("郵便番号", "〒", "郵便番号(〒)"),
    "address.region": ("都道府県",),
    "address.city": ("市区町村", "市区郡", "市区町村名"),
    "address.line1": ("住所1", "住所", "番地", "町名・番地", "町域", "丁目・番地", "住所(番地)"),
    "address.line2": ("住所2", "建物名", "建物名・部屋番号", "マンション・ビル名", "ビル名"),
    "phone": ("電話番号", "電話", "TEL", "自宅電話番号", "携帯電話番号", "携帯電話", "携帯番号"),
    "email": ("メールアドレス", "メール", "Eメール", "E-mail", "PCメールアドレス", "携帯メールアドレス"),
    "birthday": ("生年月日", "誕生日"),
    "company": ("会社名", "勤務先", "法人名", "勤務先名"),
    "updated_at": ("更新日時", "最終更新日時", "更新日", "最終更新日"),
}  # fmt: skip
ENGLISH: Aliases = {
    "customer_ref": ("Customer ID", "ID", "Customer Number", "Customer No", "Account Number", "External ID"),
    "loyalty_id": ("Loyalty ID", "Loyalty Number", "Loyalty Card", "Member Number"),
    "name.given": ("First Name", "Given Name", "Forename"),
    "name.family": ("Last Name", "Surname", "Family Name"),
    "name.full": ("Full Name", "Name", "Customer Name"),
    "name.display": ("Display Name", "Preferred Name", "Nickname"),
    "email": ("Email", "E-mail", "Email Address", "Primary Email", "Secondary Email"),
    "phone": ("Phone", "Phone Number", "Telephone", "Mobile", "Mobile Phone", "Cell", "Cell Phone"),
    "address.line1": ("Address", "Address 1", "Address Line 1", "Street", "Street Address"),
    "address.line2": ("Address 2", "Address Line 2", "Apartment", "Suite"),
    "address.city": ("City", "Town"),
    "address.region": ("State", "Province", "Region", "County", "State/Province"),
    "address.postal_code": ("Zip", "Zip Code", "Postal Code", "Postcode"),
    "address.country": ("Country", "Country Code"),
    "birthday": ("Birthday", "Date of Birth", "DOB", "Birth Date", "Birthdate"),
    "company": ("Company", "Company Name", "Organization", "Organisation"),
    "preferred_language": ("Language", "Preferred Language"),
    "updated_at": ("Updated At", "Last Updated", "Last Modified", "Modified Date", "Date Modified"),
}  # fmt: skip
SHOPIFY: Aliases = {
    "customer_ref": ("Customer ID", "ID"),
    "name.given": ("First Name",),
    "name.family": ("Last Name",),
    "email": ("Email",),
    "phone": ("Phone", "Default Address Phone"),
    "company": ("Company", "Default Address Company"),
    "address.line1": ("Address1", "Default Address Address1"),
    "address.line2": ("Address2", "Default Address Address2"),
    "address.city": ("City", "Default Address City"),
    "address.region": ("Province", "Province Code", "Default Address Province Code"),
    "address.country": ("Country Code", "Country", "Default Address Country Code"),
    "address.postal_code": ("Zip", "Default Address Zip"),
    "preferred_language": ("Language",),
}  # fmt: skip
HUBSPOT: Aliases = {
    "customer_ref": ("Record ID", "Contact ID"),
    "name.given": ("First Name",),
    "name.family": ("Last Name",),
    "email": ("Email", "Email Address"),
    "phone": ("Phone Number", "Mobile Phone Number"),
    "company": ("Company Name",),
    "address.line1": ("Street Address",),
    "address.city": ("City",),
    "address.region": ("State/Region",),
    "address.postal_code": ("Postal Code", "Zip Code"),
    "address.country": ("Country/Region",),
    "preferred_language": ("Preferred language",),
    "updated_at": ("Last Modified Date",),
}  # fmt: skip
CONSENT_COLUMNS: Mapping[str, Mapping[str, Consent]] = {
    "japanese": {"メルマガ配信": Consent("email"), "メルマガ": Consent("email"),
                 "メールマガジン": Consent("email"), "メルマガ購読": Consent("email"),
                 "メール配信": Consent("email"), "DM送付": Consent("post"), "DM可否": Consent("post")},
    "english": {"Email Opt-In": Consent("email"), "Email Marketing": Consent("email"),
                "Newsletter": Consent("email"), "SMS Opt-In": Consent("sms"), "SMS Marketing": Consent("sms")},
    "shopify": {"Accepts Email Marketing": Consent("email"), "Accepts Marketing": Consent("email"),
                "Accepts SMS Marketing": Consent("sms")},
    "hubspot": {"Unsubscribed from all email": Consent("email", negated=True)},
}  # fmt: skip
#: When two presets fit a file equally well, the more specific wins.
PREFERENCE = ("shopify", "hubspot", "japanese", "english")


@cache
def presets() -> dict[str, CustomerMapping]:
    tokyo = Options(region="JP", timezone=ZoneInfo("Asia/Tokyo"), name_order="family_given")
    return {
        "shopify": _preset("shopify", SHOPIFY, Options()),
        "hubspot": _preset("hubspot", HUBSPOT, Options()),
        "japanese": _preset("japanese", JAPANESE, tokyo),
        "english": _preset(
            "english", ENGLISH, Options(date_order="mdy", name_order="given_family")
        ),
    }


def _preset(name: str, aliases: Aliases, options: Options) -> CustomerMapping:
    columns = {column_key(c): target for target, names in aliases.items() for c in names}
    consent = {column_key(c): v for c, v in CONSENT_COLUMNS[name].items()}
    return CustomerMapping(name, columns, consent, options)


@dataclass(frozen=True)
class PresetChoice:
    mapping: CustomerMapping
    matched: int
    columns: int

    def describe(self) -> str:
        return f"{self.mapping.name} (matched {self.matched} of {self.columns} columns)"


def choose_preset(columns: Sequence[str]) -> PresetChoice | None:
    """The preset knowing the most of ``columns``; None when none knows two."""
    keys = [column_key(c) for c in columns if c]
    scored = [(sum(1 for k in keys if mapping.knows(k)), -PREFERENCE.index(name), name)
              for name, mapping in presets().items()]  # fmt: skip
    matched, _, name = max(scored)
    return PresetChoice(presets()[name], matched, len(keys)) if matched >= 2 else None


def any_preset_knows(key: str) -> bool:
    return any(m.knows(key) for m in presets().values())
