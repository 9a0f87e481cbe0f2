"""Error answers a publisher can act on: what was wrong, and where."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from starlette.responses import Response


class IngestError(Exception):
    """Refusal of a whole request; nothing of it was written."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Sequence[Mapping[str, object]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return json_response(body, self.status, self.headers)


def json_response(body: object, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status, headers=dict(headers or {}), media_type="application/json"
    )
