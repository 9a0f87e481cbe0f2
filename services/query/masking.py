"""PII masking for agents who may recognise a customer but not read their details.

Role ``agent`` sees ``t***@example.com`` and ``+1******2671``; ``supervisor``
sees them in full. Payload fields marked ``x-pii`` in the event schemas are
masked the same way, so a new event type needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from events.catalog import Catalog

FULL_ROLES = frozenset({"supervisor"})
#: what a masked role reads of the profile in full: how to address the person (the header's
#: name, its reading, the company), and facts that are no way to reach them
OPEN_PROFILE_FIELDS = frozenset({"name", "company", "preferred_language", "attributes"})
#: the parts of an address that narrow a person down no further than a town
OPEN_ADDRESS_PARTS = frozenset({"region", "city", "country"})


def mask_value(kind: str, value: str) -> str:
    if kind == "email" and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "phone":
        digits = value[-4:]
        return f"{value[:2]}{'*' * max(len(value) - 6, 3)}{digits}"
    if len(value) <= 4:
        return "***"
    return f"{value[:2]}***{value[-2:]}"


class Masker:
    def __init__(self, catalog: Catalog, role: str) -> None:
        self.catalog = catalog
        self.full = role in FULL_ROLES
        self._paths: dict[tuple[str, int], list[list[str]]] = {}  # (type, version) -> PII paths

    def masks(self, event_type: str, version: int) -> bool:
        """Whether this role reads a payload of this type and version changed."""
        return bool(self._pii_paths(event_type, version))

    def _pii_paths(self, event_type: str, version: int) -> list[list[str]]:
        found = self._paths.get((event_type, version))
        if found is None:
            known = self.catalog.get(event_type)
            pointers = (
                []
                if self.full or known is None or version not in known.payload_schemas
                else known.pii_pointers(version)
            )
            found = [p.removeprefix("/payload").strip("/").split("/") for p in pointers]
            self._paths[(event_type, version)] = found
        return found

    def identities(self, identities: Mapping[str, list[str]]) -> dict[str, list[str]]:
        if self.full:
            return {k: list(v) for k, v in identities.items()}
        return {k: [mask_value(k, v) for v in values] for k, values in identities.items()}

    def identity(self, kind: str, value: str) -> str:
        return value if self.full else mask_value(kind, value)

    def profile(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        """The profile with its contact details masked: emails, phones, address lines, birthday."""
        if self.full:
            return dict(profile)
        out: dict[str, Any] = {}
        for field, value in profile.items():
            if field in OPEN_PROFILE_FIELDS:
                out[field] = value
            elif field in ("emails", "phones"):
                out[field] = [mask_value(field[:-1], str(v)) for v in value]
            elif field == "address" and isinstance(value, Mapping):
                out[field] = {
                    part: v if part in OPEN_ADDRESS_PARTS else mask_value(part, str(v))
                    for part, v in value.items()
                }
            else:
                out[field] = mask_value(field, str(value))
        return out

    def consent(self, consent: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
        """Consent states as they are; the address and the IP address in a proof masked."""
        if self.full:
            return {ch: dict(purposes) for ch, purposes in consent.items()}
        out: dict[str, Any] = {}
        for channel, purposes in consent.items():
            out[channel] = {}
            for purpose, entry in purposes.items():
                entry = dict(entry)
                if "address" in entry:
                    entry["address"] = mask_value(channel, str(entry["address"]))
                if isinstance(entry.get("proof"), Mapping) and "ip" in entry["proof"]:
                    entry["proof"] = {
                        **entry["proof"],
                        "ip": mask_value("ip", str(entry["proof"]["ip"])),
                    }
                out[channel][purpose] = entry
        return out

    def payload(self, event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload itself when nothing in it is masked for this role, else a masked copy."""
        paths = self._pii_paths(event_type, version)
        if not paths:
            return payload
        masked = dict(payload)
        for path in paths:
            _mask_at(masked, path)
        return masked


def _mask_at(doc: dict[str, Any], path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if head not in doc:
        return
    if rest and isinstance(doc[head], dict):
        doc[head] = dict(doc[head])
        _mask_at(doc[head], rest)
    elif not rest and doc[head] is not None:
        doc[head] = mask_value(head, str(doc[head]))
