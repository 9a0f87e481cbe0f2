"""Kafka records to Arrow tables, one function per source topic; pure (no I/O, no clock).

Each function takes the records of one topic, in log order, and returns
tables whose column names and Arrow types are what the ClickHouse DDL in
``schemas/clickhouse/`` accepts, ready for ``ProjectionStore.insert_arrow``.
The same records always give the same tables (no clock, no randomness), so a
replay of the log rebuilds byte-identical rows and a retried batch gets the
same insert dedup token *and* the same content.

Type mapping, as chDB and clickhouse-connect accept it: ``UUID`` columns are
sent as canonical UUID strings (ClickHouse parses them on insert, as the
contract suite does), ``DateTime64(3, 'UTC')`` as ``timestamp('ms', 'UTC')``,
``Map`` as Arrow maps, ``Decimal(18, 4)`` as ``decimal128(18, 4)``.

Columns are built as Python lists per column and converted once per batch;
the hot path (``touchpoint_rows``) parses its timestamps with Arrow and builds
its map and list columns from flat offsets, so projecting costs a fraction of
what the insert itself does.

A record that cannot become a row (not JSON, a missing field) raises
``RowError`` naming its position, unless the caller passes a ``rejected``
list: then it is skipped and reported there with the reason, so the caller
can dead-letter it instead of stopping on it.
"""

from projections.rows.common import MS, Rejected, RowError, SourceRecord
from projections.rows.customers import customer_rows
from projections.rows.deadletters import deadletter_rows
from projections.rows.profiles import profile_rows
from projections.rows.schemas import (
    CUSTOMER_ALIASES_SCHEMA,
    CUSTOMER_MERGES_SCHEMA,
    CUSTOMER_NAMES_SCHEMA,
    CUSTOMERS_SCHEMA,
    DEADLETTER_SCHEMA,
    ENGAGEMENT_SCORES_SCHEMA,
    IDENTITIES_SCHEMA,
    PROFILE_FIELDS_SCHEMA,
    RFM_SCHEMA,
    TOUCHPOINTS_SCHEMA,
)
from projections.rows.scores import score_rows
from projections.rows.segments import segment_rows
from projections.rows.touchpoints import event_key, sighting_order, touchpoint_rows

__all__ = [
    "CUSTOMERS_SCHEMA",
    "CUSTOMER_ALIASES_SCHEMA",
    "CUSTOMER_MERGES_SCHEMA",
    "CUSTOMER_NAMES_SCHEMA",
    "DEADLETTER_SCHEMA",
    "ENGAGEMENT_SCORES_SCHEMA",
    "IDENTITIES_SCHEMA",
    "MS",
    "PROFILE_FIELDS_SCHEMA",
    "RFM_SCHEMA",
    "TOUCHPOINTS_SCHEMA",
    "Rejected",
    "RowError",
    "SourceRecord",
    "customer_rows",
    "deadletter_rows",
    "event_key",
    "profile_rows",
    "score_rows",
    "segment_rows",
    "sighting_order",
    "touchpoint_rows",
]
