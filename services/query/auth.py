"""Who is reading: an agent or supervisor key, from the header (or ``?token=`` for EventSource)."""

from __future__ import annotations

from fastapi import Request

from services.auth.keys import ApiKey, KeyStore
from services.query.errors import QueryError

AGENT_ROLES = frozenset({"agent", "supervisor"})


def authenticate(request: Request, keys: KeyStore) -> ApiKey:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    token = token or request.query_params.get("token", "")  # EventSource cannot send headers
    if not token:
        raise QueryError(401, "unauthenticated", "send 'Authorization: Bearer <agent token>'")
    key = keys.lookup(token)
    if key is None:
        raise QueryError(401, "unauthenticated", "unknown or revoked token")
    if key.role not in AGENT_ROLES:
        raise QueryError(
            403, "forbidden", f"role {key.role!r} cannot read customers (agent or supervisor)"
        )
    return key
