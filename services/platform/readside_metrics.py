"""Read-side figures reported at scrape time: the agent cache and the projections' freshness.

They already exist as counters and a status map in the service; a collector
reads them when Prometheus asks, instead of the agents' hot path updating
metric objects on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class Counts(Protocol):
    hits: int
    misses: int


class ReadSideCollector:
    def __init__(self, cache: Counts, freshness: Callable[[], Mapping[str, Any] | None]) -> None:
        self.cache, self.freshness = cache, freshness

    def collect(self) -> Iterator[Metric]:
        cache = CounterMetricFamily(
            "touchline_agent_read_cache",
            "Agent reads answered from the in-memory cache (hit) or not (miss).",
            labels=["result"],
        )
        cache.add_metric(["hit"], self.cache.hits)
        cache.add_metric(["miss"], self.cache.misses)
        yield cache
        lag = GaugeMetricFamily(
            "touchline_projection_lag_records",
            "Records a projection had not yet written when it last reported.",
            labels=["projection"],
        )
        written = GaugeMetricFamily(
            "touchline_projection_last_write_timestamp_seconds",
            "When a projection last wrote (Unix time); its age is time() minus this.",
            labels=["projection"],
        )
        for name, seen in sorted((self.freshness() or {}).items()):
            lag.add_metric([name], seen["lag_records"])
            at: datetime = seen["last_write"]
            written.add_metric([name], (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())
        yield lag
        yield written
