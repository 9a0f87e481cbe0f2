"""The agent API's error answers: a code, what was wrong, and where (never a bare 500)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from projections.store import ProjectionStoreError


class QueryError(Exception):
    def __init__(self, status: int, code: str, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.where = status, code, message, where

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.where is not None:
            body["where"] = self.where
        return JSONResponse({"error": body}, status_code=self.status)


def unavailable(exc: ProjectionStoreError) -> QueryError:
    return QueryError(503, "projections_unavailable", str(exc).split("\n")[0][:300])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(ProjectionStoreError)
    async def store_error(request: Request, exc: ProjectionStoreError) -> JSONResponse:
        return unavailable(exc).response()

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return QueryError(400, "bad_parameter", str(first.get("msg")), where).response()
