"""Which file column goes to which profile field or identity, read from a TOML or JSON file.

    region = "JP"               # phone numbers without a country code, and the default country
    timezone = "Asia/Tokyo"     # for times without an offset (updated_at)
    date_order = "ymd"          # how to read 1/2/1980: ymd (refused), mdy or dmy
    name_order = "family_given" # how a full name in one column is split

    [columns]
    "会員番号" = "customer_ref"
    "姓" = "name.family"
    "電話番号" = "phone"

    [consent."メルマガ配信"]
    channel = "email"
    purpose = "marketing"

Several columns may go to one target: address lines are joined with a space (``住所1`` and
``番地`` into ``address.line1``), emails and phones are listed in column order, and any other
field takes the first of its columns that is not empty. A consent column with ``negated = true``
says "unsubscribed": yes withdraws.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.imports.dates import DateOrder
from services.imports.errors import MappingError
from services.imports.header import column_key

NameOrder = Literal["family_given", "given_family"]
IDENTITY_TARGETS = ("customer_ref", "loyalty_id")
LIST_TARGETS = ("email", "phone")
TEXT_TARGETS = (
    "name.family", "name.given", "name.family_kana", "name.given_kana", "name.display",
    "name.full", "name.full_kana", "address.postal_code", "address.region", "address.city",
    "address.line1", "address.line2", "address.country", "birthday", "company",
    "preferred_language", "updated_at",
)  # fmt: skip
TARGETS = frozenset(IDENTITY_TARGETS + LIST_TARGETS + TEXT_TARGETS)
JOINED_TARGETS = frozenset(("address.line1", "address.line2"))
_ATTRIBUTE = re.compile(r"^attributes\.[a-z][a-z0-9_]{0,63}$")
CONSENT_CHANNELS = ("email", "sms", "phone", "post", "line", "push", "web")
CONSENT_PURPOSES = ("marketing", "service", "profiling")


@dataclass(frozen=True)
class Consent:
    """A yes/no column: yes grants, no withdraws consent on ``channel`` for ``purpose``."""

    channel: str
    purpose: str = "marketing"
    negated: bool = False  # "Unsubscribed": yes withdraws


@dataclass(frozen=True)
class Options:
    """What the file does not say itself: how to read its numbers, dates and names."""

    region: str | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    date_order: DateOrder = "ymd"
    name_order: NameOrder | None = None


@dataclass(frozen=True)
class CustomerMapping:
    """Column keys (see ``column_key``) to targets; presets list many names for one target."""

    name: str
    columns: Mapping[str, str]
    consent: Mapping[str, Consent] = field(default_factory=dict)
    options: Options = field(default_factory=Options)

    def knows(self, key: str) -> bool:
        return key in self.columns or key in self.consent


def load_document(path: Path) -> dict[str, Any]:
    """A mapping file's content: TOML, or JSON when the name ends in ``.json``."""
    try:
        text = path.read_bytes().decode()
    except (OSError, ValueError) as exc:
        raise MappingError(f"{path}: {exc}") from None
    return load_text(text, path.suffix.lower() == ".json", str(path))


def load_text(text: str, json_: bool, name: str) -> dict[str, Any]:
    """A mapping document's content from its text (an upload's mapping part)."""
    try:
        data = json.loads(text) if json_ else tomllib.loads(text)
    except ValueError as exc:
        raise MappingError(f"{name}: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{name}: expected a table of settings at the top")
    return data


def customer_mapping(data: Mapping[str, Any], name: str) -> CustomerMapping:
    columns = _table(data, "columns", name)
    for column, target in columns.items():
        if not isinstance(target, str) or not (target in TARGETS or _ATTRIBUTE.match(target)):
            known = ", ".join(sorted(TARGETS))
            raise MappingError(
                f"{name}: [columns] {column!r}: unknown target {target!r} (one of {known} or attributes.<name>)"
            )
    consent = {
        column_key(c): _consent(v, f"{name}: [consent] {c!r}")
        for c, v in _table(data, "consent", name).items()
    }
    keyed = {column_key(c): t for c, t in columns.items()}
    if not keyed and not consent:
        raise MappingError(f"{name}: [columns] maps no column")
    return CustomerMapping(name, keyed, consent, options(data, name))


def options(data: Mapping[str, Any], name: str) -> Options:
    region = data.get("region")
    if region is not None and not (isinstance(region, str) and len(region) == 2):
        raise MappingError(f"{name}: region must be a two-letter country code, got {region!r}")
    try:
        zone = ZoneInfo(str(data.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"{name}: unknown timezone {data.get('timezone')!r}") from None
    order = _choice(data, "date_order", get_args(DateOrder), "ymd", name)
    names = data.get("name_order")
    if names is not None:
        names = _choice(data, "name_order", get_args(NameOrder), "family_given", name)
    return Options(
        region.upper() if region else None,
        zone,
        cast(DateOrder, order),
        cast(NameOrder | None, names),
    )


def _choice(
    data: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str, name: str
) -> str:
    value = data.get(key, default)
    if value not in allowed:
        raise MappingError(f"{name}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _table(data: Mapping[str, Any], key: str, name: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise MappingError(f"{name}: [{key}] must be a table")
    return value


def _consent(value: object, where: str) -> Consent:
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected channel and purpose")
    channel, purpose = value.get("channel"), value.get("purpose", "marketing")
    negated = value.get("negated", False)
    if (
        channel not in CONSENT_CHANNELS
        or purpose not in CONSENT_PURPOSES
        or not isinstance(negated, bool)
    ):
        raise MappingError(
            f"{where}: channel must be one of {', '.join(CONSENT_CHANNELS)} "
            f"and purpose one of {', '.join(CONSENT_PURPOSES)} (negated: true or false)"
        )
    return Consent(str(channel), str(purpose), negated)
