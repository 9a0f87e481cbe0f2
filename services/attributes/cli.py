"""``touchline attributes declare|list|remove --tenant T``: a tenant's custom profile attributes."""

from __future__ import annotations

import argparse
import sys
from typing import cast

from events.attributes import TYPES, AttributeType, Declaration, DeclarationError
from services.attributes.sqlite import SqliteAttributeStore, read_attribute_rules
from services.platform.settings import Settings


def add_attributes_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "attributes", help="declare the custom attributes a tenant's profiles may carry"
    )
    actions = cmd.add_subparsers(required=True, metavar="ACTION")
    declare = actions.add_parser("declare", help="declare (or redeclare) one attribute")
    declare.add_argument("name", help="lower-case letters, digits and _ (e.g. tier)")
    declare.add_argument("type", choices=TYPES)
    declare.add_argument("--values", nargs="+", default=[], help="enum only: its values")
    declare.set_defaults(handler=_declare)
    listing = actions.add_parser("list", help="the tenant's declarations")
    listing.set_defaults(handler=_list)
    remove = actions.add_parser("remove", help="forget a declaration (events already in stay)")
    remove.add_argument("name")
    remove.set_defaults(handler=_remove)
    for action in (declare, listing, remove):
        action.add_argument("--tenant", required=True)


def _declare(args: argparse.Namespace, settings: Settings) -> int:
    try:
        declaration = Declaration(args.name, cast(AttributeType, args.type), tuple(args.values))
        new = SqliteAttributeStore(settings.attributes_db_path).declare(args.tenant, declaration)
    except DeclarationError as exc:
        print(f"attributes: {exc}", file=sys.stderr)
        return 2
    print(f"attributes: {'declared' if new else 'redeclared'} {args.name} {declaration.describe()}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    rules = read_attribute_rules(settings.attributes_db_path)
    for declaration in rules.declared(args.tenant).values():
        print(f"{declaration.name}\t{declaration.describe()}")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    if not SqliteAttributeStore(settings.attributes_db_path).remove(args.tenant, args.name):
        print(f"attributes: {args.tenant} has no attribute {args.name!r}", file=sys.stderr)
        return 1
    print(f"attributes: removed {args.name}")
    return 0
