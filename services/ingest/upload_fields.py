"""An upload's fields to an ``ImportRequest``: each one checked, and named when it is wrong.

The key decides the tenant (a ``tenant`` field is unknown); a customers import needs the
key to be allowed the profile and consent types, a history import its mapping's type.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from starlette.datastructures import UploadFile

from events.catalog import load_catalog
from services.auth.keys import ApiKey
from services.imports.dates import DateProblem, parse_instant
from services.imports.errors import MappingError
from services.imports.history import history_mapping
from services.imports.mapping import customer_mapping, load_text
from services.imports.planning import ImportRequest, Kind
from services.imports.presets import presets
from services.ingest.errors import IngestError
from services.ingest.upload_form import unprocessable

CUSTOMER_TYPES = ("customer.profile_updated", "consent.granted", "consent.withdrawn")


def import_request(
    key: ApiKey, path: Path, upload: UploadFile, fields: Mapping[str, str]
) -> ImportRequest:
    kind = fields.get("kind", "")
    if kind not in ("customers", "history"):
        raise unprocessable("/kind", "required: customers or history")
    mapping = _mapping(fields, cast(Kind, kind), key)
    preset = fields.get("preset") or "auto"
    if preset != "auto" and preset not in presets():
        raise unprocessable("/preset", f"unknown preset (one of auto, {', '.join(presets())})")
    if kind == "customers":
        _may_publish(key, CUSTOMER_TYPES)
    return ImportRequest(
        path=path,
        kind=cast(Kind, kind),
        tenant=key.tenant,
        source=fields.get("source") or None,
        as_of=_as_of(fields.get("as_of")),
        region=_region(fields.get("region")),
        encoding=_encoding(fields.get("encoding")),
        sheet=fields.get("sheet") or None,
        preset=preset,
        mapping=mapping,
        mapping_name=fields.get("mapping_name", "mapping"),
        file_name=Path(upload.filename or path.name).name[:200],
    )


def _mapping(fields: Mapping[str, str], kind: Kind, key: ApiKey) -> dict[str, Any] | None:
    text = fields.get("mapping")
    if not text:
        if kind == "history":
            raise unprocessable("/mapping", "required for history: the type, time and columns")
        return None
    name = fields.get("mapping_name", "mapping")
    try:
        is_json = name.lower().endswith(".json") or text.lstrip().startswith("{")
        document = load_text(text, is_json, name)
        if kind == "customers":
            customer_mapping(document, name)
        else:
            _may_publish(key, (history_mapping(document, name, load_catalog()).type,))
    except MappingError as exc:
        raise unprocessable("/mapping", str(exc)) from None
    return document


def _may_publish(key: ApiKey, types: tuple[str, ...]) -> None:
    refused = [t for t in types if not key.may_publish(t)]
    if refused:
        raise IngestError(403, "forbidden", f"this key may not publish {', '.join(refused)}")


def _as_of(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return parse_instant(text, ZoneInfo("UTC"))
    except DateProblem as exc:
        raise unprocessable("/as_of", str(exc)) from None


def _region(text: str | None) -> str | None:
    if text and not re.fullmatch(r"[A-Za-z]{2}", text):
        raise unprocessable("/region", "a two-letter country code, e.g. JP")
    return text.upper() if text else None


def _encoding(text: str | None) -> str | None:
    if not text:
        return None
    try:
        codecs.lookup(text)
    except LookupError:
        raise unprocessable("/encoding", f"unknown encoding {text[:40]!r}") from None
    return text
