-- Every resolved touchpoint, one row per event, as the agent's timeline reads it.
--
-- ORDER BY (tenant, customer_id, occurred_at, event_id): the hot read is one
-- customer's timeline, newest first (WHERE tenant = ? AND customer_id IN
-- (survivor, its aliases) ORDER BY occurred_at DESC LIMIT n); with this key
-- ClickHouse reads only that customer's granules, already in time order.
-- event_id last makes the key unique per event, so the ReplacingMergeTree
-- folds a duplicate that slipped past the insert dedup token (a batch cut
-- differently after a crash) into one row at merge time; readers that must be
-- exact before a merge add LIMIT 1 BY event_id.
-- No PARTITION BY: an insert touching more than 100 partitions fails, and a
-- replay batch of old history spans many months; nothing here is dropped by age.
-- customer_id is the customer when the event was resolved; after a merge it
-- may be an alias, which customer_aliases maps to its survivor.
CREATE TABLE IF NOT EXISTS touchpoints
(
    tenant LowCardinality(String),
    customer_id UUID,
    occurred_at DateTime64(3, 'UTC'),
    event_id UUID,
    channel LowCardinality(String),
    type LowCardinality(String),
    schema_version UInt16,               -- the version the payload is read at (latest)
    summary String,                      -- one line for people: "Call, inbound, 4 min, resolved"
    payload String CODEC(ZSTD(3)),       -- JSON at schema_version (the envelope's payload)
    identities Map(LowCardinality(String), String),  -- kind -> value, as published and normalized
    identity_flags Array(LowCardinality(String)),    -- what identity resolution noted (e.g. a cap hit)
    received_at DateTime64(3, 'UTC'),    -- set by ingest
    source LowCardinality(String),
    correlation_id String DEFAULT '',
    conversation_id String DEFAULT '',
    kafka_partition UInt16,              -- position in touchpoints.resolved, for audits and replay checks
    kafka_offset UInt64,
    projected_at DateTime64(3, 'UTC') DEFAULT now64(3)  -- when the projector wrote it (freshness)
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, customer_id, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 1000;  -- insert_deduplication_token is ignored without it
