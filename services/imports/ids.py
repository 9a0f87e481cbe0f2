"""Event ids of imported rows: the same row of the same file always gets the same id.

The id is a UUID5 of the tenant, the row's natural key (its customer_ref, else its
identifiers) and the event it produced, so importing a file again sends ids that ingest and
the stream stages already hold, while a row whose content changed gets a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "touchline:import")


def natural_key(identities: Mapping[str, str]) -> str:
    if "customer_ref" in identities:
        return f"customer_ref:{identities['customer_ref']}"
    return "|".join(f"{kind}:{identities[kind]}" for kind in sorted(identities))


def import_event_id(tenant: str, event: Mapping[str, Any]) -> str:
    """``event`` without its id: type, occurred_at, source, identities and payload all count."""
    content = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    name = f"{tenant}\x1f{natural_key(event['identities'])}\x1f".encode() + content
    return str(uuid.uuid5(NAMESPACE, name.decode()))
