"""Prometheus metrics, one set per kind of process, in a registry its composition root owns.

Names follow Prometheus' conventions (``touchline_<what>_total`` counters,
``_seconds`` histograms, base units); the README lists them. Each set is built
with a registry, never registered at import, so tests can build several.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# seconds: from a cached read (sub-millisecond) to a slow batch or flush
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class HttpMetrics:
    """Request latency by route template (never the raw path: ids would explode the series)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Histogram(
            "touchline_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )


class RequestTimer:
    """ASGI middleware that observes every HTTP request in ``HttpMetrics``.

    A live stream (server-sent events) is observed when it ends; its route
    tells it apart from the short requests in a dashboard.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), ["500"]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, scope.get("method", ""), status[0]).observe(
                time.perf_counter() - started
            )


class IngestMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.accepted = Counter(
            "touchline_ingest_events_accepted_total",
            "Events appended to the touchpoints log (new ones, not resends).",
            ["type"],
            registry=registry,
        )
        self.duplicates = Counter(
            "touchline_ingest_events_duplicate_total",
            "Events ingest had accepted before and answered without writing again.",
            registry=registry,
        )
        self.rejected = Counter(
            "touchline_ingest_events_rejected_total",
            "Events refused, by reason (invalid, batch_refused, forbidden, unavailable) and type.",
            ["reason", "type"],
            registry=registry,
        )
        self.requests_rejected = Counter(
            "touchline_ingest_requests_rejected_total",
            "Requests refused before their events were judged, by HTTP status and code.",
            ["status", "code"],
            registry=registry,
        )


class WebhookMetrics:
    """Provider webhook deliveries: their outcome, and what they held that no mapping takes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "touchline_webhook_deliveries_total",
            "Webhook deliveries by provider and outcome (accepted, or the refusal's code).",
            ["provider", "outcome"],
            registry=registry,
        )
        self.unmapped = Counter(
            "touchline_webhook_unmapped_total",
            "Items of accepted deliveries kept on webhooks.raw but mapped to no touchpoint.",
            ["provider", "kind"],
            registry=registry,
        )


class StageMetrics:
    """What a stream stage or the projector does with its input."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.processed = Counter(
            "touchline_stage_events_processed_total",
            "Records a stage has applied, by stage, input topic and partition.",
            ["stage", "topic", "partition"],
            registry=registry,
        )
        self.lag = Gauge(
            "touchline_stage_consumer_lag",
            "Committed records a stage's consumer group has not committed yet, per partition.",
            ["stage", "topic", "partition"],
            registry=registry,
        )
        self.deadletters = Counter(
            "touchline_deadletters_total",
            "Records sent to the dead-letter topic, by the stage that gave up and the reason code.",
            ["stage", "reason"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "touchline_stage_batch_duration_seconds",
            "Time a stage took to apply one batch, outputs acknowledged.",
            ["stage"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.repaired = Counter(
            "touchline_contiguity_repaired_total",
            "Records faust skipped that the contiguity guard read back directly, by topic.",
            ["topic"],
            registry=registry,
        )

    def set_lag(self, stage: str, lag: dict[Any, int]) -> None:
        """``lag``: per ``TopicPartition`` (anything with ``topic`` and ``partition``)."""
        for tp, behind in lag.items():
            self.lag.labels(stage, tp.topic, str(tp.partition)).set(behind)


class ProjectorMetrics(StageMetrics, HttpMetrics):
    def __init__(self, registry: CollectorRegistry) -> None:
        StageMetrics.__init__(self, registry)
        HttpMetrics.__init__(self, registry)
        self.rows = Counter(
            "touchline_projector_rows_written_total",
            "Rows the projector inserted, by table.",
            ["table"],
            registry=registry,
        )
        self.flush_seconds = Histogram(
            "touchline_projector_flush_duration_seconds",
            "Time to write one flush (every table, the serving index, the commit).",
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
