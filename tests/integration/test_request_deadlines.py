"""Slow clients: headers or a body sent a byte at a time get a 408 and the connection closes.

Before, a body sent one byte every 2 s kept its connection (and a server slot)
open for as long as the client liked; so did headers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.support import ApiServer, base_env, random_tenant, start_api

pytestmark = pytest.mark.integration
DEADLINE_S = 2


@pytest.fixture(scope="module")
def strict_api(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    env = base_env(kafka_bootstrap, TOUCHLINE_HEADER_TIMEOUT_S=str(DEADLINE_S),
                   TOUCHLINE_BODY_TIMEOUT_S=str(DEADLINE_S))  # fmt: skip
    server = start_api(env, Path(tmp_path_factory.mktemp("strict-api")))
    yield server
    server.stop()


def _drip(server: ApiServer, head: bytes, drip: bytes) -> tuple[bytes, float]:
    """Send ``head`` at once, then ``drip`` a byte a second until the server answers; the
    answer and how long it took to come and the connection to close."""
    url = urlparse(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        started = time.monotonic()
        conn.sendall(head)
        conn.settimeout(1.0)
        answer = b""
        for byte in drip:
            try:
                conn.sendall(bytes([byte]))
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            answer += chunk
            break  # answered (or closed): stop sending
        conn.settimeout(5.0)
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except OSError:
            pass
        return answer, time.monotonic() - started


def test_headers_sent_a_byte_a_second_get_408(strict_api: ApiServer) -> None:
    answer, took = _drip(strict_api, b"POST /v1/events HTTP/1.1\r\n", b"X-Slow: " + b"a" * 30)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"header_timeout" in answer
    assert took < DEADLINE_S + 4


def test_a_body_sent_a_byte_a_second_gets_408_and_nothing_is_written(
    strict_api: ApiServer,
) -> None:
    key = strict_api.key(random_tenant())
    body = b'{"type": "chat.message", "schema_version": 1' + b" " * 40 + b"}"
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    answer, took = _drip(strict_api, head, body)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"body_timeout" in answer and b"did not arrive within 2 s" in answer
    assert took < DEADLINE_S + 4


def test_a_prompt_client_is_not_hurried(strict_api: ApiServer) -> None:
    import httpx

    assert httpx.get(strict_api.url + "/healthz", timeout=10).status_code == 200
    with httpx.Client(timeout=10) as client:  # a kept-alive connection, idle between requests
        assert client.get(strict_api.url + "/v1/event-types").status_code == 200
        time.sleep(DEADLINE_S + 0.5)
        assert client.get(strict_api.url + "/v1/event-types").status_code == 200
