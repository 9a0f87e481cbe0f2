"""SendGrid webhook deliveries against ``/v1/events`` with the same events, in one run.

One private broker and ingest server; a SendGrid connector with a fresh P-256 key. Each round
posts batches of 100 signed SendGrid events to ``/v1/webhooks/sendgrid/<id>`` (signature check,
raw delivery sealed onto ``webhooks.raw``, mapping, intake, one transaction) and then the
envelopes that mapping gives, as batches of 100, to ``/v1/events``; rounds alternate, so a noisy
neighbour slows both alike. Every batch has fresh provider ids (nothing is a duplicate). The
server's own CPU time per event is read from ``/proc``.

    .venv/bin/python -m bench.webhooks [--batches N] [--rounds N] [--connections N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.common import TOUCHLINE, Stack, free_port, private_stack, wait_healthy
from bench.http_client import KeepAliveConnection
from bench.processing import cpu_seconds
from services.webhooks.delivery import Headers, RawDelivery
from services.webhooks.registry import PROVIDERS

BATCH = 100
KINDS = ("processed", "delivered", "open", "click")
Request = tuple[str, str, bytes]  # path, headers, body


def sendgrid_batch(key: ec.EllipticCurvePrivateKey, n: int, seq: int) -> tuple[bytes, str]:
    """A signed batch of ``n`` events for 30 addresses, and its signature headers."""
    now = int(time.time())
    events = [{"email": f"person{(seq * n + i) % 30}@example.org", "event": KINDS[i % 4],
               "sg_event_id": uuid.uuid4().hex, "sg_message_id": f"m{seq}-{i // 4}.filter0001",
               "timestamp": now - 60, "url": "https://shop.example.com/sale",
               "useragent": "Mozilla/5.0"} for i in range(n)]  # fmt: skip
    body = orjson.dumps(events)
    stamp = str(now)
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256())))
    headers = (f"X-Twilio-Email-Event-Webhook-Signature: {signature.decode()}\r\n"
               f"X-Twilio-Email-Event-Webhook-Timestamp: {stamp}\r\n")  # fmt: skip
    return body, headers


def as_envelopes(body: bytes, connector: str) -> bytes:
    """The same events as Touchline envelopes (what the mapping gives), with fresh ids."""
    delivery = RawDelivery("sendgrid", connector, "http://x/", Headers({}), body, datetime.now(UTC))
    mapped = PROVIDERS["sendgrid"].map(delivery)
    assert len(mapped.envelopes) == BATCH, mapped.unmapped[:3]
    return orjson.dumps([{**e, "event_id": str(uuid.uuid4())} for e in mapped.envelopes])


async def run(
    port: int, pid: int, requests: list[Request], connections: int
) -> tuple[float, float]:
    """(events/s, server CPU µs per event) for ``requests`` over keep-alive connections."""
    queue = list(reversed(requests))
    base = "Content-Type: application/json\r\n"

    async def client() -> None:
        connection = KeepAliveConnection("127.0.0.1", port, {})
        try:
            while queue:
                path, headers, body = queue.pop()
                connection.fixed = base + headers
                status, answer = await connection.post(path, body)
                if status not in (200, 202):
                    raise RuntimeError(f"{path}: HTTP {status}: {answer[:300]!r}")
        finally:
            await connection.close()

    cpu, start = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    seconds = time.perf_counter() - start
    events = len(requests) * BATCH
    return events / seconds, (cpu_seconds(pid) - cpu) / events * 1e6


def serve(stack: Stack) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**stack.env, "TOUCHLINE_HTTP_PORT": str(port)}
    process = subprocess.Popen([TOUCHLINE, "serve"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}")
    return process, port


def connector(stack: Stack, key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    added = subprocess.run([TOUCHLINE, "connectors", "add", "sendgrid", "--tenant", "bench",
                            "--secret", base64.b64encode(der).decode()], env=stack.env,
                           capture_output=True, text=True, check=True)  # fmt: skip
    return added.stdout.split()[0]


def rounds_of(
    stack: Stack, key: ec.EllipticCurvePrivateKey, connector_id: str, batches: int, seq: int
) -> tuple[list[Request], list[Request]]:
    hook, events = [], []
    auth = f"Authorization: Bearer {stack.key}\r\n"
    for i in range(batches):
        body, headers = sendgrid_batch(key, BATCH, seq * batches + i)
        hook.append((f"/v1/webhooks/sendgrid/{connector_id}", headers, body))
        events.append(("/v1/events", auth, as_envelopes(body, connector_id)))
    return hook, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20, help="batches of 100 per round and side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    key = ec.generate_private_key(ec.SECP256R1())
    with private_stack() as stack:
        process, port = serve(stack)
        try:
            connector_id = connector(stack, key)
            warm = rounds_of(stack, key, connector_id, 5, 999)
            for side in warm:
                asyncio.run(run(port, process.pid, side, args.connections))
            results: dict[str, list[tuple[float, float]]] = {"webhook": [], "events": []}
            for r in range(args.rounds):
                hook, events = rounds_of(stack, key, connector_id, args.batches, r)
                results["webhook"].append(
                    asyncio.run(run(port, process.pid, hook, args.connections))
                )
                results["events"].append(
                    asyncio.run(run(port, process.pid, events, args.connections))
                )
        finally:
            process.terminate()
            process.wait(30)
    report(results, args)


def report(results: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    print(f"bench.webhooks: {args.rounds} interleaved rounds of {args.batches} batches of "
          f"{BATCH} events, {args.connections} connections, one ingest process")  # fmt: skip
    medians, cpus = {}, {}
    for side, rows in results.items():
        rate = statistics.median(r for r, _ in rows)
        cpu = statistics.median(c for _, c in rows)
        medians[side], cpus[side] = rate, cpu
        path = "/v1/webhooks/sendgrid" if side == "webhook" else "/v1/events"
        print(f"  {path:<22} {rate:8.0f} events/s ({rate / BATCH:6.1f} deliveries/s), "
              f"ingest CPU {cpu:6.1f} µs/event; rounds: "
              + ", ".join(f"{r:.0f}" for r, _ in rows))  # fmt: skip
    ratio = medians["webhook"] / medians["events"]
    print(f"  ratio webhook / events: {ratio:.2f} (goal >= 0.5); by ingest CPU per event "
          f"(what a loaded machine moves least): {cpus['events'] / cpus['webhook']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
