"""``touchline connectors add|list|rotate|remove``: the webhook connectors of this deployment.

The store is ``$TOUCHLINE_DATA_DIR/webhook-connectors.sqlite3``; its secrets are sealed with the
key in ``$TOUCHLINE_DATA_DIR/webhook-seal.key`` (created on first use, owner-readable only).
A secret Touchline generates is printed once, on ``add`` or ``rotate``; ``--secret -`` reads
the provider's secret from standard input, out of the shell history.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timedelta

from services.platform.settings import Settings
from services.webhooks.connectors import Connector, ConnectorError, Issued, SqliteConnectorStore
from services.webhooks.registry import PROVIDERS
from services.webhooks.sealing import AesGcmSealer, SealError, load_or_create_key

EXIT_REFUSED = 2


def add_connectors_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    connectors = sub.add_parser("connectors", help="webhook connectors: provider URL to tenant")
    actions = connectors.add_subparsers(required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a connector; prints its id (and a generated secret)")
    add.add_argument("provider", choices=sorted(PROVIDERS))
    add.add_argument("--tenant", required=True)
    add.add_argument("--secret", help="the provider's secret or key ('-': read from stdin)")
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="list connectors (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked connectors")
    listing.set_defaults(handler=_list)
    rotate = actions.add_parser("rotate", help="give a connector a new secret")
    rotate.add_argument("connector_id")
    rotate.add_argument("--secret", help="the provider's new secret ('-': read from stdin)")
    rotate.add_argument(
        "--grace-hours",
        type=float,
        default=24.0,
        help="how long the previous secret still verifies (default 24)",
    )
    rotate.set_defaults(handler=_rotate)
    remove = actions.add_parser("remove", help="revoke a connector at once (its secrets erased)")
    remove.add_argument("connector_id")
    remove.set_defaults(handler=_remove)


def open_store(settings: Settings) -> SqliteConnectorStore:
    key = load_or_create_key(settings.data_dir / "webhook-seal.key")
    return SqliteConnectorStore(settings.data_dir / "webhook-connectors.sqlite3", AesGcmSealer(key))


def _add(args: argparse.Namespace, settings: Settings) -> int:
    return _issue(settings, lambda store: store.add(args.provider, args.tenant, _secret(args)))


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    grace = timedelta(hours=args.grace_hours)
    return _issue(settings, lambda store: store.rotate(args.connector_id, _secret(args), grace))


def _issue(settings: Settings, action: Callable[[SqliteConnectorStore], Issued]) -> int:
    try:
        store = open_store(settings)
        try:
            issued = action(store)
        finally:
            store.close()
    except (ConnectorError, SealError) as exc:
        print(f"connectors: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(issued.connector.connector_id)
    if issued.secret is not None:
        print(issued.secret)
        print("connectors: the secret above is shown only now", file=sys.stderr)
    print(
        f"connectors: the provider posts to https://<this host>{issued.connector.path()}",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        store = open_store(settings)
    except SealError as exc:
        print(f"connectors: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        connectors = store.list(include_revoked=args.all)
    finally:
        store.close()
    print(f"{'id':<26} {'provider':<10} {'tenant':<20} {'created':<20} {'rotated':<20} state")
    for connector in connectors:
        print(_row(connector))
    return 0


def _row(connector: Connector) -> str:
    state = "active" if connector.active else f"revoked {_when(connector.revoked_at)}"
    return (
        f"{connector.connector_id:<26} {connector.provider:<10} {connector.tenant:<20} "
        f"{_when(connector.created_at):<20} {_when(connector.rotated_at):<20} {state}"
    )


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at else "-"


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    try:
        store = open_store(settings)
    except SealError as exc:
        print(f"connectors: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        revoked = store.revoke(args.connector_id)
    finally:
        store.close()
    if revoked:
        print(f"connectors: revoked {args.connector_id}", file=sys.stderr)
        return 0
    print(f"connectors: no active connector {args.connector_id}", file=sys.stderr)
    return 1


def _secret(args: argparse.Namespace) -> str | None:
    if args.secret == "-":
        return sys.stdin.read().strip()
    return str(args.secret) if args.secret is not None else None
