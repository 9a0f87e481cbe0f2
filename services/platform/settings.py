"""One settings object, read from environment variables with safe defaults.

Every component takes a ``Settings`` instead of reading ``os.environ`` itself, so
a test can run several configurations side by side in one process.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from projections.analyst.limits import QueryLimits


class SettingsError(ValueError):
    """A configuration variable holds a value Touchline cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _optional_path(value: str) -> Path | None:
    return None if value.lower() == "off" else _absolute(Path(value))


def _absolute(path: Path) -> Path:
    """``path`` against the working directory of the process that read the settings.

    Child processes (the broker JVM runs in its own folder) must not reinterpret a
    relative path against theirs: that once left a newcomer's broker without its jars.
    """
    return Path(os.path.abspath(path.expanduser()))


def _absolute_url(url: str) -> str:
    """File-backed store URLs (``chdb://``, ``sqlite://``) with an absolute path."""
    for scheme in ("chdb://", "sqlite://"):
        if url.startswith(scheme) and not url.startswith(scheme + "/") and url != scheme:
            return scheme + str(_absolute(Path(url[len(scheme) :])))
    return url


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _str(env, name, "on" if default else "off").lower()
    if raw not in ("on", "off"):
        raise SettingsError(f"{name} must be on or off, got {raw!r}")
    return raw == "on"


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


@dataclass(frozen=True)
class Settings:
    """Configuration of one Touchline process.

    Defaults suit the embedded, single-machine mode: a local broker on loopback,
    data under ``./.touchline``. Nothing listens beyond loopback unless asked to.
    Every path is made absolute when the settings are made, so a child process
    started in another folder means the same files.
    """

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    kafka_ack_timeout_ms: int = 5000
    kafka_partitions: int = 12
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_workers: int = 1
    query_port: int = 8001
    #: the first stream worker on a host serves /metrics here; the next ones on the next ports
    worker_metrics_port: int = 8002
    data_dir: Path = Path(".touchline")
    cache_dir: Path = Path(".touchline/cache")
    clickhouse_url: str = ""
    identity_store_url: str = ""
    #: data keys and tenant secrets (wrapped by the root key); beside the identity store
    key_store_url: str = ""
    #: the root key file (the key-encryption keys): keep it apart from the key store
    root_key_path: Path = Path(".touchline/root.key")
    #: personal data sealed before it is written anywhere (crypto-shredding); off: in clear
    encrypt_pii: bool = True
    worker_batch_size: int = 1000
    #: the stream workers' consumer group and faust app id (workers of one deployment share it;
    #: it goes with one identity store)
    worker_group: str = "touchline"
    projector_group: str = "touchline-projector"
    projector_flush_rows: int = 20_000
    projector_flush_ms: int = 250
    #: recently read customers whose resolution and newest timeline entries the agent API keeps
    query_cache_customers: int = 1000
    #: how often the agent API writes its buffered read audit to ClickHouse
    audit_flush_ms: int = 5000
    #: how often the projection service runs the duplicate matcher over every tenant (0: only
    #: on demand, POST /v1/review/duplicates/run)
    review_every_s: int = 900
    #: the agents' serving index (SQLite) beside the projections; None: read the store only
    serving_index_path: Path | None = Path(".touchline/serving-index.sqlite3")
    #: keep the serving index's pages locked in memory (agents' reads never wait for the disk)
    serving_index_resident: bool = True
    default_phone_region: str = "US"
    max_batch_events: int = 1000
    max_body_bytes: int = 1_048_576
    #: a request's headers, and then its body, must arrive within these (else 408): a client
    #: sending a byte every few seconds must not hold a connection open
    header_timeout_s: int = 10
    body_timeout_s: int = 30
    dedup_cache_size: int = 200_000
    #: the largest provider webhook body taken (413 past it); SendGrid batches stay under 768 KB
    webhook_max_body_bytes: int = 1_048_576
    #: scheme, host and port as the providers call ingest (Twilio signs the URL), when a proxy
    #: in front rewrites them; empty: the URL of the request as ingest sees it
    webhook_public_url: str = ""
    #: uploads to POST /v1/imports: the largest file, the jobs a process runs at once and holds
    #: (running or queued; more are answered 503), and how long their reports are kept
    import_max_bytes: int = 256 << 20
    import_workers: int = 1
    import_max_pending: int = 4
    import_retention_hours: int = 72
    ingest_instance_id: str = field(default_factory=socket.gethostname)
    #: per analyst query: seconds, bytes of memory, rows read, rows returned
    sql_max_seconds: float = 10.0
    sql_max_memory_bytes: int = 1 << 30
    sql_max_rows_read: int = 100_000_000
    sql_max_rows_returned: int = 100_000
    #: profile sources, most trusted first (glob patterns, e.g. ``import:*,crm,web``): per field
    #: the most trusted source's latest value wins; unnamed sources rank below named ones
    profile_source_precedence: tuple[str, ...] = ()
    #: every segment re-evaluated at least this often (time windows move without events)
    segments_refresh_s: int = 60
    #: after the projector writes rows about a tenant, its segments are refreshed this much later
    #: (a burst of flushes makes one refresh)
    segments_debounce_ms: int = 1000

    def __post_init__(self) -> None:
        for name in ("data_dir", "cache_dir", "serving_index_path", "root_key_path"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _absolute(value))
        for name in ("clickhouse_url", "identity_store_url", "key_store_url"):
            object.__setattr__(self, name, _absolute_url(getattr(self, name)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``TOUCHLINE_*`` variables; unset or empty ones keep their defaults."""
        env = os.environ if env is None else env
        data_dir = _absolute(Path(_str(env, "TOUCHLINE_DATA_DIR", ".touchline")))
        base = cls()
        return cls(
            kafka_bootstrap=_str(env, "TOUCHLINE_KAFKA_BOOTSTRAP", base.kafka_bootstrap),
            kafka_controller_port=_int(
                env, "TOUCHLINE_KAFKA_CONTROLLER_PORT", base.kafka_controller_port, 1
            ),
            kafka_heap=_str(env, "TOUCHLINE_KAFKA_HEAP", base.kafka_heap),
            kafka_ack_timeout_ms=_int(
                env, "TOUCHLINE_KAFKA_ACK_TIMEOUT_MS", base.kafka_ack_timeout_ms, 100
            ),
            kafka_partitions=_int(env, "TOUCHLINE_KAFKA_PARTITIONS", base.kafka_partitions, 1),
            http_host=_str(env, "TOUCHLINE_HTTP_HOST", base.http_host),
            http_port=_int(env, "TOUCHLINE_HTTP_PORT", base.http_port, 0),
            http_workers=_int(env, "TOUCHLINE_HTTP_WORKERS", base.http_workers, 1),
            query_port=_int(env, "TOUCHLINE_QUERY_PORT", base.query_port, 0),
            worker_metrics_port=_int(
                env, "TOUCHLINE_WORKER_METRICS_PORT", base.worker_metrics_port, 0
            ),
            data_dir=data_dir,
            cache_dir=Path(_str(env, "TOUCHLINE_CACHE_DIR", str(data_dir / "cache"))),
            clickhouse_url=_str(
                env, "TOUCHLINE_CLICKHOUSE_URL", f"chdb://{data_dir / 'clickhouse'}"
            ),
            identity_store_url=_str(
                env,
                "TOUCHLINE_IDENTITY_STORE",
                f"sqlite://{data_dir / 'identity.sqlite3'}",
            ),
            key_store_url=_str(
                env, "TOUCHLINE_KEY_STORE", f"sqlite://{data_dir / 'privacy.sqlite3'}"
            ),
            root_key_path=Path(_str(env, "TOUCHLINE_ROOT_KEY_FILE", str(data_dir / "root.key"))),
            encrypt_pii=_switch(env, "TOUCHLINE_ENCRYPT_PII", True),
            worker_batch_size=_int(env, "TOUCHLINE_WORKER_BATCH_SIZE", base.worker_batch_size, 1),
            worker_group=_str(env, "TOUCHLINE_WORKER_GROUP", base.worker_group),
            projector_group=_str(env, "TOUCHLINE_PROJECTOR_GROUP", base.projector_group),
            projector_flush_rows=_int(
                env, "TOUCHLINE_PROJECTOR_FLUSH_ROWS", base.projector_flush_rows, 1
            ),
            projector_flush_ms=_int(
                env, "TOUCHLINE_PROJECTOR_FLUSH_MS", base.projector_flush_ms, 10
            ),
            query_cache_customers=_int(
                env, "TOUCHLINE_QUERY_CACHE_CUSTOMERS", base.query_cache_customers, 0
            ),
            audit_flush_ms=_int(env, "TOUCHLINE_AUDIT_FLUSH_MS", base.audit_flush_ms, 100),
            review_every_s=_int(env, "TOUCHLINE_REVIEW_EVERY_S", base.review_every_s, 0),
            serving_index_path=_optional_path(
                _str(env, "TOUCHLINE_SERVING_INDEX", str(data_dir / "serving-index.sqlite3"))
            ),
            serving_index_resident=_switch(
                env, "TOUCHLINE_SERVING_INDEX_RESIDENT", base.serving_index_resident
            ),
            default_phone_region=_str(
                env, "TOUCHLINE_DEFAULT_PHONE_REGION", base.default_phone_region
            ).upper(),
            max_batch_events=_int(env, "TOUCHLINE_MAX_BATCH_EVENTS", base.max_batch_events, 1),
            max_body_bytes=_int(env, "TOUCHLINE_MAX_BODY_BYTES", base.max_body_bytes, 1024),
            header_timeout_s=_int(env, "TOUCHLINE_HEADER_TIMEOUT_S", base.header_timeout_s, 1),
            body_timeout_s=_int(env, "TOUCHLINE_BODY_TIMEOUT_S", base.body_timeout_s, 1),
            dedup_cache_size=_int(env, "TOUCHLINE_DEDUP_CACHE_SIZE", base.dedup_cache_size, 0),
            webhook_max_body_bytes=_int(
                env, "TOUCHLINE_WEBHOOK_MAX_BODY_BYTES", base.webhook_max_body_bytes, 1024
            ),
            webhook_public_url=_str(env, "TOUCHLINE_WEBHOOK_PUBLIC_URL", "").rstrip("/"),
            import_max_bytes=_int(env, "TOUCHLINE_IMPORT_MAX_BYTES", base.import_max_bytes, 1024),
            import_workers=_int(env, "TOUCHLINE_IMPORT_WORKERS", base.import_workers, 1),
            import_max_pending=_int(
                env, "TOUCHLINE_IMPORT_MAX_PENDING", base.import_max_pending, 1
            ),
            import_retention_hours=_int(
                env, "TOUCHLINE_IMPORT_RETENTION_HOURS", base.import_retention_hours, 1
            ),
            ingest_instance_id=_str(env, "TOUCHLINE_INGEST_INSTANCE_ID", socket.gethostname()),
            sql_max_seconds=_int(env, "TOUCHLINE_SQL_MAX_SECONDS", 10, 1),
            sql_max_memory_bytes=_int(
                env, "TOUCHLINE_SQL_MAX_MEMORY_BYTES", base.sql_max_memory_bytes, 1 << 20
            ),
            sql_max_rows_read=_int(env, "TOUCHLINE_SQL_MAX_ROWS_READ", base.sql_max_rows_read, 1),
            sql_max_rows_returned=_int(
                env, "TOUCHLINE_SQL_MAX_ROWS_RETURNED", base.sql_max_rows_returned, 1
            ),
            profile_source_precedence=tuple(
                p.strip()
                for p in _str(env, "TOUCHLINE_PROFILE_SOURCE_PRECEDENCE", "").split(",")
                if p.strip()
            ),
            segments_refresh_s=_int(
                env, "TOUCHLINE_SEGMENTS_REFRESH_S", base.segments_refresh_s, 1
            ),
            segments_debounce_ms=_int(
                env, "TOUCHLINE_SEGMENTS_DEBOUNCE_MS", base.segments_debounce_ms, 0
            ),
        )

    def sql_limits(self) -> QueryLimits:
        return QueryLimits(self.sql_max_seconds, self.sql_max_memory_bytes,
                           self.sql_max_rows_read, self.sql_max_rows_returned)  # fmt: skip

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests and the ``up`` command use it)."""
        return replace(self, **changes)

    @property
    def kafka_host(self) -> str:
        return self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[0]

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    @property
    def keys_db_path(self) -> Path:
        return self.data_dir / "keys.sqlite3"

    @property
    def attributes_db_path(self) -> Path:
        """Tenants' custom attribute declarations (``touchline attributes``), beside the keys."""
        return self.data_dir / "attributes.sqlite3"

    @property
    def imports_dir(self) -> Path:
        """Uploaded imports' job state, files (while they run) and reports."""
        return self.data_dir / "imports"

    @property
    def segments_db_path(self) -> Path:
        """The segment definitions (SQLite: ``projections.segments.definitions`` says why)."""
        return self.data_dir / "segments.sqlite3"

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"
