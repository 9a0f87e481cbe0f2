"""uvicorn internals Touchline relies on: a deadline for a request's headers.

uvicorn has a keep-alive timeout but none for a request's headers: a client
that opens a connection and sends a header byte every few seconds holds it
(and a slot of the server) for as long as it likes. ``HeaderTimeoutProtocol``
is uvicorn's httptools protocol with a timer armed when a connection opens
and when a request begins, and disarmed when its headers are complete; when
it fires, the client gets a 408 and the connection is closed. The body's
deadline is an ASGI middleware (``services.platform.timeouts``), no internals.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = (
    b'{"error":{"code":"header_timeout","message":"the request headers did not arrive in time"}}'
)
_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """``http=`` for ``uvicorn.Config``; ``header_timeout_s`` is set per process (``configure``)."""

    header_timeout_s: ClassVar[float] = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_RESPONSE)
            self.transport.close()


def configure(header_timeout_s: float) -> type[HeaderTimeoutProtocol]:
    """Set this process's header deadline (a worker process calls it from its app factory)."""
    HeaderTimeoutProtocol.header_timeout_s = header_timeout_s
    return HeaderTimeoutProtocol
