"""``touchline segments create|list|show|preview|delete|export``: ``/v1/segments`` from a terminal.

Every action asks the running projection service (it owns the store, the definitions
and the membership), with an analyst key: the key decides the tenant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from projections.consents import CHANNELS, PURPOSES
from services.platform.settings import Settings

EXIT_REFUSED, EXIT_UNAVAILABLE = 2, 3


def add_segments_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    segments = sub.add_parser(
        "segments", help="saved audiences: rules or analyst SQL, kept current"
    )
    segments.add_argument("--key", help="analyst key (default $TOUCHLINE_API_KEY)")
    actions = segments.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="save a segment")
    create.add_argument("name")
    _definition(create)
    create.set_defaults(handler=_create)
    preview = actions.add_parser("preview", help="size and a sample of a definition, not saved")
    _definition(preview)
    preview.set_defaults(handler=_preview)
    actions.add_parser("list", help="the tenant's segments").set_defaults(handler=_list)
    for name, handler, text in (("show", _show, "one segment"), ("delete", _delete, "delete one")):
        action = actions.add_parser(name, help=text)
        action.add_argument("name", help="the segment's name or id")
        action.set_defaults(handler=handler)
    export = actions.add_parser(
        "export", help="members whose consent is granted for the channel and purpose"
    )
    export.add_argument("name", help="the segment's name or id")
    export.add_argument("--channel", required=True, choices=CHANNELS)
    export.add_argument("--purpose", required=True, choices=PURPOSES)
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--out", type=Path, help="write here (default: stdout)")
    export.set_defaults(handler=_export)


def _definition(parser: argparse.ArgumentParser) -> None:
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--rule", help="the rule as JSON, or @file")
    given.add_argument("--sql", help="analyst SQL returning customer_id, or @file")


def _given(text: str) -> str:
    return Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text


def _body(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.sql is not None:
        return {"sql": _given(args.sql)}
    try:
        return {"rule": json.loads(_given(args.rule))}
    except json.JSONDecodeError as exc:
        print(f"segments: --rule is not JSON: {exc}", file=sys.stderr)
        return None


def _create(args: argparse.Namespace, settings: Settings) -> int:
    body = _body(args)
    return (
        EXIT_REFUSED
        if body is None
        else _call(args, settings, "POST", "/v1/segments", {"name": args.name, **body})
    )


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    body = _body(args)
    return (
        EXIT_REFUSED
        if body is None
        else _call(args, settings, "POST", "/v1/segments/preview", body)
    )


def _list(args: argparse.Namespace, settings: Settings) -> int:
    return _call(args, settings, "GET", "/v1/segments")


def _show(args: argparse.Namespace, settings: Settings) -> int:
    return _call(args, settings, "GET", f"/v1/segments/{args.name}")


def _delete(args: argparse.Namespace, settings: Settings) -> int:
    return _call(args, settings, "DELETE", f"/v1/segments/{args.name}")


def _export(args: argparse.Namespace, settings: Settings) -> int:
    params = {"channel": args.channel, "purpose": args.purpose, "format": args.format}
    answer = _request(args, settings, "GET", f"/v1/segments/{args.name}/export", params=params)
    if not isinstance(answer, httpx.Response):
        return answer
    if args.out is not None:
        args.out.write_bytes(answer.content)
    else:
        sys.stdout.write(answer.text)
    h = answer.headers
    print(f"segments: exported {h.get('x-touchline-exported')}; excluded "
          f"{h.get('x-touchline-excluded-withdrawn')} withdrawn and "
          f"{h.get('x-touchline-excluded-unknown')} unknown consent for "
          f"{args.channel}/{args.purpose}", file=sys.stderr)  # fmt: skip
    return 0


def _call(args: argparse.Namespace, settings: Settings, method: str, path: str,
          body: dict[str, Any] | None = None) -> int:  # fmt: skip
    answer = _request(args, settings, method, path, body=body)
    if not isinstance(answer, httpx.Response):
        return answer
    print(json.dumps(answer.json(), indent=2, ensure_ascii=False))
    return 0


def _request(args: argparse.Namespace, settings: Settings, method: str, path: str,
             body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None) -> httpx.Response | int:  # fmt: skip
    token = args.key or os.environ.get("TOUCHLINE_API_KEY")
    if not token:
        print("segments: give an analyst key with --key or $TOUCHLINE_API_KEY", file=sys.stderr)
        return EXIT_REFUSED
    url = f"http://{settings.http_host}:{settings.query_port}{path}"
    try:
        answer = httpx.request(method, url, json=body, params=params, timeout=120,
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    except httpx.HTTPError as exc:
        print(f"segments: the projection service at {url} did not answer: {exc!r}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if answer.status_code >= 400:
        try:
            error = answer.json().get("error", {})
        except ValueError:
            error = {"message": answer.text}
        where = f" at {error['path']}" if error.get("path") else ""
        print(f"segments: {answer.status_code} {error.get('code', '')}: {error.get('message')}{where}",
              file=sys.stderr)  # fmt: skip
        return EXIT_UNAVAILABLE if answer.status_code == 503 else EXIT_REFUSED
    return answer
