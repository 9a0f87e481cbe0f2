"""A deadline for a request's body: 408 when it has not all arrived in time.

An ASGI middleware wraps ``receive``: from the first read of the body, the
whole body must arrive within ``timeout_s``. A client that sends a byte every
two seconds is answered 408 (by the app's handler for ``BodyTimeout``, in the
app's error format) instead of holding the connection. Once the body is
complete, ``receive`` passes through untouched (streams wait on it for the
client's disconnect). The headers' deadline is in ``services.compat.uvicorn``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.compat.uvicorn import configure
from services.platform.settings import Settings


class BodyTimeout(Exception):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"the request body did not arrive within {timeout_s:g} s")


class BodyTimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        state: dict[str, Any] = {"deadline": None, "complete": False}

        async def timed() -> Message:
            if state["complete"]:
                return await receive()
            if state["deadline"] is None:
                state["deadline"] = loop.time() + self.timeout_s
            try:
                async with asyncio.timeout_at(state["deadline"]):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["complete"] = True
            return message

        await self.app(scope, timed, send)


def install_request_deadlines(
    app: FastAPI, settings: Settings, answer: Callable[[int, str, str], Response]
) -> type[asyncio.Protocol]:
    """The body deadline on ``app`` (408 in its error format, via ``answer``), and this
    process's header deadline; returns the uvicorn ``http=`` protocol that enforces it."""
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout_s)

    async def late(request: Request, exc: Exception) -> Response:
        response = answer(408, "body_timeout", str(exc))
        response.headers["connection"] = "close"  # the rest of the body is not waited for
        return response

    app.add_exception_handler(BodyTimeout, late)
    return configure(settings.header_timeout_s)
