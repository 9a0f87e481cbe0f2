-- What failed, and how far each projection has got.

-- Everything a stage could not process, with the reason (mirrors touchpoints.deadletter).
-- ORDER BY (tenant, failed_at, stage): operators read "what failed recently for
-- this tenant"; tenant is '' when the record could not be read far enough to know it.
CREATE TABLE IF NOT EXISTS deadletter
(
    tenant LowCardinality(String),
    failed_at DateTime64(3, 'UTC'),
    stage LowCardinality(String),        -- identity, engagement, projector, ...
    reason String,
    topic LowCardinality(String),        -- where the failed record came from
    partition Int32,                     -- -1 when unknown
    offset Int64,                        -- -1 when unknown
    key String,
    value String CODEC(ZSTD(3)),         -- the record as text, for a human or a re-drive
    deadletter_partition UInt16,         -- its position in touchpoints.deadletter
    deadletter_offset UInt64
)
ENGINE = MergeTree
ORDER BY (tenant, failed_at, stage)
SETTINGS non_replicated_deduplication_window = 1000;

-- Per projection and input partition: last offset written, lag, last write.
-- Operational, not tenant data. ORDER BY (projection_name, topic, partition) with
-- ReplacingMergeTree(updated_at): one current row per key after merges; read
-- with argMax(..., updated_at) GROUP BY projection_name, topic, partition.
CREATE TABLE IF NOT EXISTS projection_status
(
    projection_name LowCardinality(String),  -- touchpoints, customers, engagement_scores, ...
    topic LowCardinality(String),
    partition UInt16,
    last_offset Int64,                   -- last input offset whose rows are in ClickHouse
    lag Int64,                           -- high watermark minus last_offset - 1, when written
    rows_written UInt64,                 -- rows written by this flush
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (projection_name, topic, partition)
SETTINGS non_replicated_deduplication_window = 1000;
