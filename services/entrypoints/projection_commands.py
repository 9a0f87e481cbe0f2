"""``touchline projector|migrate|sql``: the ClickHouse side, from one ``Settings``.

In the embedded default the chDB directory belongs to one process: while the
projector runs, ``migrate`` and ``sql`` cannot open it and say so.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pyarrow as pa

from projections.analyst import AnalystQueryError, run_analyst_query
from projections.migrations import MigrationError, apply_migrations
from projections.opening import Opener
from projections.store import ProjectionStore, ProjectionStoreError, open_projection_store
from services.auth.sqlite import SqliteKeyStore
from services.platform.settings import Settings
from services.privacy.wiring import open_protector
from services.query.analyst_api import QueryAudit

EXIT_REFUSED = 2
EXIT_UNAVAILABLE = 3


def add_projection_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    projector = sub.add_parser("projector", help="project Kafka topics into ClickHouse")
    projector.set_defaults(handler=_projector)
    migrate = sub.add_parser("migrate", help="apply the ClickHouse migrations (schemas/clickhouse)")
    migrate.set_defaults(handler=_migrate)
    sql = sub.add_parser(
        "sql", help="read-only SQL over the projections, as an analyst key's tenant"
    )
    sql.add_argument("query")
    sql.add_argument(
        "--key", help="analyst key (default $TOUCHLINE_API_KEY): it decides the tenant"
    )
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.set_defaults(handler=_sql)
    add_replay_commands(sub)


def _open(settings: Settings) -> ProjectionStore | None:
    try:
        return open_projection_store(settings.clickhouse_url)
    except ProjectionStoreError as exc:
        print(f"touchline: projection store {settings.clickhouse_url}: {exc}", file=sys.stderr)
        print(
            "  (an embedded chDB directory is owned by one process: is the projector "
            "running? stop it, or use a ClickHouse server)",
            file=sys.stderr,
        )
        return None


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    store = _open(settings)
    if store is None:
        return EXIT_UNAVAILABLE
    try:
        applied = apply_migrations(store)
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        store.close()
    for migration in applied:
        print(f"applied {migration.version:04d} {migration.name}")
    if not applied:
        print("up to date")
    return 0


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    """Ask the running projection service; open the store only when no one holds it."""
    token = args.key or os.environ.get("TOUCHLINE_API_KEY")
    if not token:
        print("sql: give an analyst key with --key or $TOUCHLINE_API_KEY "
              "(touchline keys create --tenant T --role analyst)", file=sys.stderr)  # fmt: skip
        return EXIT_REFUSED
    store = _open_quietly(settings)
    if store is None:
        return _sql_on_service(args.query, token, args.format, settings)
    try:
        key = SqliteKeyStore(settings.keys_db_path).lookup(token)
        if key is None or key.role != "analyst":
            print("sql: " + ("unknown or revoked key" if key is None else
                             f"role {key.role!r} cannot run SQL (analyst)"), file=sys.stderr)  # fmt: skip
            return EXIT_REFUSED
        apply_migrations(store)
        started = time.monotonic()
        audit = QueryAudit(store)
        try:
            result = run_analyst_query(store, key.tenant, args.query, settings.sql_limits())
        except AnalystQueryError as exc:
            audit.record(key, "sql", args.query, "refused", exc.code)
            print(f"sql: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        audit.record(key, "sql", args.query, "ok", "", result.num_rows,
                     int((time.monotonic() - started) * 1000))  # fmt: skip
    finally:
        store.close()
    write_result(result, args.format)
    return 0


def _sql_on_service(query: str, token: str, form: str, settings: Settings) -> int:
    url = f"http://{settings.http_host}:{settings.query_port}/v1/sql"
    try:
        answer = httpx.post(url, json={"query": query}, timeout=120,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    except httpx.HTTPError as exc:
        print(f"sql: the store is in use and the projection service at {url} did not answer: "
              f"{exc!r}", file=sys.stderr)  # fmt: skip
        return EXIT_UNAVAILABLE
    if answer.status_code != 200:
        error = answer.json().get("error", {}) if answer.headers.get("content-type", "").startswith(
            "application/json") else {"message": answer.text}  # fmt: skip
        print(f"sql: {answer.status_code} {error.get('code', '')}: {error.get('message')}",
              file=sys.stderr)  # fmt: skip
        return EXIT_UNAVAILABLE if answer.status_code == 503 else EXIT_REFUSED
    body = answer.json()
    names = [c["name"] for c in body["columns"]]
    write_result(_table_of(names, body["rows"]), form)
    return 0


def _table_of(names: list[str], rows: list[list[Any]]) -> pa.Table:
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(names)})


def write_result(result: pa.Table, form: str) -> None:
    rows = result.to_pylist()
    if form == "json":
        for row in rows:
            print(json.dumps(row, default=str, ensure_ascii=False))
    elif form == "csv":
        out = csv.writer(sys.stdout)
        out.writerow(result.column_names)
        out.writerows([[_cell(v) for v in row.values()] for row in rows])
    else:
        cells = [[str(c) for c in result.column_names]] + [
            [_cell(v) for v in r.values()] for r in rows
        ]
        widths = [min(max(len(row[i]) for row in cells), 60) for i in range(len(cells[0]))]
        for n, row in enumerate(cells):
            print("  ".join(v[:60].ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
            if n == 0:
                print("  ".join("-" * w for w in widths))
        print(f"({len(rows)} rows)", file=sys.stderr)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _projector(args: argparse.Namespace, settings: Settings) -> int:
    from services.entrypoints.roots.projection_service import run_projection_service

    return run_projection_service(settings)


def add_replay_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_key = "operator key, for asking a running projection service (default $TOUCHLINE_API_KEY)"
    replay = sub.add_parser("replay", help="rebuild a projection from the log and swap it in")
    replay.add_argument("projection", choices=["touchpoints"])
    replay.add_argument("--key", help=help_key)
    replay.set_defaults(handler=_replay)
    checksum = sub.add_parser("checksum", help="an order-free checksum of a projection")
    checksum.add_argument("projection", choices=["touchpoints"])
    checksum.add_argument("--key", help=help_key)
    checksum.set_defaults(handler=_checksum)


def _open_quietly(settings: Settings) -> ProjectionStore | None:
    try:
        return open_projection_store(settings.clickhouse_url)
    except ProjectionStoreError:
        return None


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from projections.replay import replay

    store = _open_quietly(settings)
    with tqdm(unit="ev", desc=f"replay {args.projection}", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        if store is None:  # the projection service owns the store: it replays, and keeps serving
            return _replay_on_service(args, settings, progress)
        try:
            apply_migrations(store)
            protector = open_protector(settings)
            opener = Opener(protector) if protector is not None else None
            result = replay(
                store,
                settings.kafka_bootstrap,
                args.projection,
                progress,
                None,
                opener,
                settings.profile_source_precedence,
            )
        finally:
            store.close()
    print(f"{args.projection}: {result}")
    return 0


def _service(args: argparse.Namespace, settings: Settings) -> tuple[str, dict[str, str]] | None:
    key = args.key or os.environ.get("TOUCHLINE_API_KEY")
    if not key:
        print(
            "touchline: the projection store is in use by the projection service; pass an "
            "operator key (--key or $TOUCHLINE_API_KEY) to ask it",
            file=sys.stderr,
        )
        return None
    return f"http://{settings.http_host}:{settings.query_port}", {"Authorization": f"Bearer {key}"}


def _replay_on_service(
    args: argparse.Namespace, settings: Settings, progress: Callable[[int, int], None]
) -> int:
    service = _service(args, settings)
    if service is None:
        return EXIT_UNAVAILABLE
    url, headers = service
    path = f"{url}/v1/admin/replay/{args.projection}"
    try:
        started = httpx.post(path, headers=headers, timeout=30)
        if started.status_code != 202:
            print(f"replay: {started.status_code} {started.text}", file=sys.stderr)
            return EXIT_REFUSED
        while True:
            job = httpx.get(path, headers=headers, timeout=30).json()
            progress(job["done"], job["total"])
            if job["state"] != "running":
                break
            time.sleep(0.5)
    except httpx.HTTPError as exc:
        print(f"replay: the projection service at {url} did not answer: {exc!r}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if job["state"] == "failed":
        print(f"replay: failed: {job['error']}", file=sys.stderr)
        return 1
    print(f"{args.projection}: {job['result']['rows']} rows, checksum {job['result']['checksum']}")
    return 0


def _checksum(args: argparse.Namespace, settings: Settings) -> int:
    from projections.replay import checksum

    store = _open_quietly(settings)
    if store is None:
        service = _service(args, settings)
        if service is None:
            return EXIT_UNAVAILABLE
        url, headers = service
        answer = httpx.get(
            f"{url}/v1/admin/checksum/{args.projection}", headers=headers, timeout=120
        )
        if answer.status_code != 200:
            print(f"checksum: {answer.status_code} {answer.text}", file=sys.stderr)
            return EXIT_REFUSED
        body = answer.json()
        print(f"{args.projection}: {body['rows']} rows, checksum {body['checksum']}")
        return 0
    try:
        print(f"{args.projection}: {checksum(store, args.projection)}")
    finally:
        store.close()
    return 0
