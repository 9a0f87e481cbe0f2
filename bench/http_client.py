"""A minimal keep-alive HTTP/1.1 client for load generation.

httpx's connection pool costs more CPU per request than the server under
test does on a 2-core machine, so with it the benchmark measures the client.
This client does only what the benchmarks need: GET, or POST a body, read the
status and a Content-Length body, reuse the connection.
"""

from __future__ import annotations

import asyncio
import random
import time


class KeepAliveConnection:
    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return await self.request("POST", path, body)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request("GET", path, b"")

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        length = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.fixed}{length}\r\n"
        self._writer.write(head.encode() + body)
        await self._writer.drain()
        status_line, *header_lines = (await self._reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        size = next(
            int(h.split(b":")[1]) for h in header_lines if h.lower().startswith(b"content-length")
        )
        return int(status_line.split()[1]), await self._reader.readexactly(size)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()


async def closed_loop(
    host: str,
    port: int,
    headers: dict[str, str],
    requests: list[tuple[str, str, bytes]],
    concurrency: int,
    expect: int,
    think_s: float = 0.0,
) -> tuple[list[float], float]:
    """``concurrency`` keep-alive connections share ``requests`` (method, path, body), in order.

    Each connection sends its next request as soon as it has an answer, or
    with ``think_s`` after a pause drawn from an exponential distribution of
    that mean (a person reading the answer; each connection then also starts
    after a pause of up to twice that). Returns every request's latency
    in seconds and the seconds the whole run took; an answer other than
    ``expect`` stops the run.
    """
    pauses = random.Random(len(requests))
    latencies: list[float] = []
    queue = list(reversed(requests))

    async def client() -> None:
        connection = KeepAliveConnection(host, port, headers)
        if think_s:  # agents do not all start reading in the same millisecond
            await asyncio.sleep(pauses.uniform(0, 2 * think_s))
        try:
            while queue:
                method, path, body = queue.pop()
                t0 = time.perf_counter()
                status, answer = await connection.request(method, path, body)
                latencies.append(time.perf_counter() - t0)
                if status != expect:
                    raise RuntimeError(f"{method} {path}: HTTP {status}: {answer[:300]!r}")
                if think_s:
                    await asyncio.sleep(pauses.expovariate(1 / think_s))
        finally:
            await connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start
