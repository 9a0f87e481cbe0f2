"""The Arrow schemas of the projected tables, as the ClickHouse DDL in ``schemas/clickhouse/`` accepts them."""

from __future__ import annotations

import pyarrow as pa

from projections.rows.common import MS, schema

TOUCHPOINTS_SCHEMA = schema(
    ("tenant", pa.string()),
    ("customer_id", pa.string()),
    ("occurred_at", MS),
    ("event_id", pa.string()),
    ("channel", pa.string()),
    ("type", pa.string()),
    ("schema_version", pa.uint16()),
    ("summary", pa.string()),
    ("payload", pa.string()),
    ("identities", pa.map_(pa.string(), pa.string())),
    ("identity_flags", pa.list_(pa.string())),
    ("received_at", MS),
    ("source", pa.string()),
    ("correlation_id", pa.string()),
    ("conversation_id", pa.string()),
    ("kafka_partition", pa.uint16()),
    ("kafka_offset", pa.uint64()),
)
CUSTOMERS_SCHEMA = schema(
    ("tenant", pa.string()),
    ("customer_id", pa.string()),
    ("version", pa.uint64()),
    ("first_seen", MS),
    ("identities", pa.map_(pa.string(), pa.list_(pa.string()))),
    ("consent", pa.map_(pa.string(), pa.bool_())),
    ("survivor_id", pa.string()),
    ("erased", pa.bool_()),
    ("updated_at", MS),
)
CUSTOMER_ALIASES_SCHEMA = schema(
    ("tenant", pa.string()),
    ("alias_id", pa.string()),
    ("survivor_id", pa.string()),
    ("version", pa.uint64()),
    ("reason", pa.string()),
    ("cause_event_id", pa.string()),
    ("merged_at", MS),
)
CUSTOMER_MERGES_SCHEMA = schema(
    ("tenant", pa.string()),
    ("customer_id", pa.string()),
    ("other_id", pa.string()),
    ("action", pa.string()),
    ("at", MS),
    ("basis", pa.string()),
    ("reason", pa.string()),
    ("rule", pa.string()),
    ("score", pa.float64()),
    ("requested_by", pa.string()),
    ("kind", pa.string()),
    ("cause_event_id", pa.string()),
    ("version", pa.uint64()),
)
IDENTITIES_SCHEMA = schema(
    ("tenant", pa.string()),
    ("kind", pa.string()),
    ("value", pa.string()),
    ("customer_id", pa.string()),
    ("version", pa.uint64()),
    ("linked", pa.bool_()),
    ("updated_at", MS),
)
ENGAGEMENT_SCORES_SCHEMA = schema(
    ("tenant", pa.string()),
    ("customer_id", pa.string()),
    ("as_of", MS),
    ("model_version", pa.string()),
    ("score", pa.float64()),
    ("raw", pa.float64()),
    ("events", pa.uint32()),
    ("contributions", pa.string()),
    ("channels", pa.string()),
)
RFM_SCHEMA = schema(
    ("tenant", pa.string()),
    ("customer_id", pa.string()),
    ("as_of", MS),
    ("model_version", pa.string()),
    ("recency_days", pa.float64()),
    ("frequency", pa.uint32()),
    ("monetary", pa.decimal128(18, 4)),
    ("segment", pa.string()),
    ("churn_risk", pa.string()),
)
DEADLETTER_SCHEMA = schema(
    ("tenant", pa.string()),
    ("failed_at", MS),
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("topic", pa.string()),
    ("partition", pa.int32()),
    ("offset", pa.int64()),
    ("key", pa.string()),
    ("value", pa.string()),
    ("deadletter_partition", pa.uint16()),
    ("deadletter_offset", pa.uint64()),
)
PROFILE_FIELDS_SCHEMA = schema(
    ("tenant", pa.string()),
    ("customer_id", pa.string()),
    ("field", pa.string()),
    ("value", pa.string()),
    ("source", pa.string()),
    ("rank", pa.uint8()),
    ("occurred_at", MS),
    ("event_id", pa.string()),
)
CUSTOMER_NAMES_SCHEMA = schema(
    ("tenant", pa.string()),
    ("key", pa.string()),
    ("customer_id", pa.string()),
    ("occurred_at", MS),
    ("event_id", pa.string()),
)
SEGMENT_CHANGES_SCHEMA = schema(
    ("tenant", pa.string()),
    ("segment_id", pa.string()),
    ("segment_name", pa.string()),
    ("segment_version", pa.uint32()),
    ("customer_id", pa.string()),
    ("change", pa.string()),
    ("reason", pa.string()),
    ("conditions", pa.string()),
    ("changed_at", MS),
    ("change_id", pa.string()),
)
SEGMENT_MEMBERS_SCHEMA = schema(
    ("tenant", pa.string()),
    ("segment_id", pa.string()),
    ("segment_name", pa.string()),
    ("customer_id", pa.string()),
    ("member", pa.bool_()),
    ("since", MS),
    ("reason", pa.string()),
    ("seq", pa.uint64()),
)
