"""``touchline identity export``: one person's data as one JSON document (an access request).

Like ``touchline sql``, it asks the running projection service (the store's
owner) and opens the store itself only when no one holds it, with the same
checks: a supervisor key decides the tenant, and every export is audited.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from projections import reads
from projections.exports import subject_export
from projections.migrations import apply_migrations
from projections.store import ProjectionStore, ProjectionStoreError, open_projection_store
from services.auth.sqlite import SqliteKeyStore
from services.identity.commands import CommandRejected, normalized_identifier
from services.platform.settings import Settings
from services.query.audit import AuditLog

EXIT_REFUSED = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_FOUND = 4


def add_export_action(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = actions.add_parser(
        "export", help="everything held about one customer, as JSON (a supervisor key)"
    )
    export.add_argument("--key", help="supervisor key (default $TOUCHLINE_API_KEY)")
    export.add_argument("--customer", help="the customer id (or give --kind and --value)")
    export.add_argument("--kind")
    export.add_argument("--value")
    export.add_argument("--out", type=Path, help="write here instead of stdout")
    export.set_defaults(handler=_export)


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _export(args: argparse.Namespace, settings: Settings) -> int:
    token = args.key or os.environ.get("TOUCHLINE_API_KEY")
    try:
        if not token:
            raise _Refused(EXIT_REFUSED, "give a supervisor key with --key or $TOUCHLINE_API_KEY")
        if (args.customer is None) == (args.kind is None or args.value is None):
            raise _Refused(
                EXIT_REFUSED, "name the customer by --customer, or by --kind and --value"
            )
        wanted = _wanted(args, settings)
        store = _open_quietly(settings)
        if store is None:
            document = _on_service(token, wanted, settings)
        else:
            try:
                document = _direct(store, token, wanted, settings)
            finally:
                store.close()
    except _Refused as exc:
        print(f"export: {exc}", file=sys.stderr)
        return exc.code
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if args.out is None:
        sys.stdout.buffer.write(text)
    else:
        args.out.write_bytes(text)
    return 0


def _wanted(args: argparse.Namespace, settings: Settings) -> uuid.UUID | tuple[str, str]:
    if args.customer is not None:
        try:
            return uuid.UUID(args.customer)
        except ValueError:
            raise _Refused(EXIT_REFUSED, f"customer id {args.customer!r} is not a UUID") from None
    try:
        return normalized_identifier(args.kind, args.value, settings.default_phone_region)
    except CommandRejected as exc:
        raise _Refused(EXIT_REFUSED, str(exc)) from None


def _open_quietly(settings: Settings) -> ProjectionStore | None:
    try:
        return open_projection_store(settings.clickhouse_url)
    except ProjectionStoreError:  # held by the projection service: ask it
        return None


def _direct(
    store: ProjectionStore, token: str, wanted: uuid.UUID | tuple[str, str], settings: Settings
) -> Any:
    key = SqliteKeyStore(settings.keys_db_path).lookup(token)
    if key is None:
        raise _Refused(EXIT_REFUSED, "unknown or revoked key")
    if key.role != "supervisor":
        raise _Refused(EXIT_REFUSED, f"role {key.role!r} cannot export a customer (supervisor)")
    apply_migrations(store)
    customer = (
        wanted if isinstance(wanted, uuid.UUID) else reads.owner_of(store, key.tenant, *wanted)
    )
    document = subject_export(store, key.tenant, customer) if customer is not None else None
    if document is None:
        raise _Refused(EXIT_NOT_FOUND, f"no such customer in tenant {key.tenant}")
    audit = AuditLog(store)
    audit.record(key, document["customer_id"], "export")
    audit.flush()
    return document


def _on_service(token: str, wanted: uuid.UUID | tuple[str, str], settings: Settings) -> Any:
    url = f"http://{settings.http_host}:{settings.query_port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        if isinstance(wanted, tuple):
            wanted = _search(url, headers, *wanted)
        answer = httpx.get(f"{url}/v1/customers/{wanted}/export", headers=headers, timeout=120)
    except httpx.HTTPError as exc:
        raise _Refused(
            EXIT_UNAVAILABLE,
            f"the store is in use and the projection service at {url} did not answer: {exc!r}",
        ) from None
    _check(answer)
    return answer.json()


def _search(url: str, headers: dict[str, str], kind: str, value: str) -> uuid.UUID:
    answer = httpx.get(f"{url}/v1/customers", params={"query": value, "limit": 100},
                       headers=headers, timeout=30)  # fmt: skip
    _check(answer)
    for hit in answer.json()["results"]:
        if {"kind": kind, "value": value} in hit["matched"]:
            return uuid.UUID(hit["customer_id"])
    raise _Refused(EXIT_NOT_FOUND, f"no customer has {kind} {value!r}")


def _check(answer: httpx.Response) -> None:
    if answer.status_code == 200:
        return
    try:
        error = answer.json()["error"]
        message = f"{answer.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        message = f"{answer.status_code}: {answer.text[:200]}"
    code = {404: EXIT_NOT_FOUND, 503: EXIT_UNAVAILABLE}.get(answer.status_code, EXIT_REFUSED)
    raise _Refused(code, message)
