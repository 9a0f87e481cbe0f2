-- Segment membership, projected from the segments topic (one message per entry or exit).

-- Every entry and exit, with its reason: who entered which segment when, and why.
CREATE TABLE IF NOT EXISTS segment_changes
(
    tenant LowCardinality(String),
    segment_id UUID,
    segment_name String,
    segment_version UInt32,
    customer_id UUID,
    change LowCardinality(String),       -- entered, exited
    reason String,                       -- which condition changed, or "sql refresh"
    conditions String,                   -- JSON list: path, text, before, after
    changed_at DateTime64(3, 'UTC'),
    change_id UUID
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, segment_id, changed_at, customer_id, change_id)
SETTINGS non_replicated_deduplication_window = 1000, old_parts_lifetime = 1,
    cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1;

-- Membership now: the latest change per (segment, customer) wins (read with FINAL or argMax
-- over seq); member = false once the customer left.
CREATE TABLE IF NOT EXISTS segment_members
(
    tenant LowCardinality(String),
    segment_id UUID,
    segment_name String,
    customer_id UUID,
    member Bool,
    since DateTime64(3, 'UTC'),
    reason String,
    seq UInt64                           -- changed_at in µs: the order of a customer's changes
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY (tenant, segment_id, customer_id)
SETTINGS non_replicated_deduplication_window = 1000, old_parts_lifetime = 1,
    cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1;
