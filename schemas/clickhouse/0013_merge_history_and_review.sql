-- The merge history of a customer, and the queue of suggested duplicates (名寄せ).

-- Every merge into a customer and every identifier detached from it, from the `customers`
-- topic (CustomersMerged, IdentityDetached), one row each, never re-pointed: unlike
-- customer_aliases (alias -> current survivor), this keeps who merged into whom, when and why.
-- ORDER BY (tenant, customer_id, at, other_id, action): the profile reads one customer's
-- history (the customer and its aliases) in time order; a record relayed twice is one row.
-- basis: identifier (the identity rules: reason is the identity key), manual (a person's
-- reason), suggestion (an accepted suggested duplicate: rule and score); '' for a detach.
CREATE TABLE IF NOT EXISTS customer_merges
(
    tenant LowCardinality(String),
    customer_id UUID,                    -- the survivor of the merge, or the one detached from
    other_id UUID,                       -- the customer merged in, or the detach's new customer
    action LowCardinality(String),       -- merged, detached
    at DateTime64(3, 'UTC'),             -- when the identity store recorded it
    basis LowCardinality(String),
    reason String,
    rule String,                         -- the matcher's rules and evidence codes
    score Nullable(Float64),
    requested_by String,
    kind LowCardinality(String),         -- a detach: the identifier's kind
    cause_event_id String,               -- the touchpoint or the command
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, customer_id, at, other_id, action)
SETTINGS non_replicated_deduplication_window = 1000, old_parts_lifetime = 1,
         cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1;

-- Suggested duplicates for review, written by the review queue of the projection service
-- (not a projection of the log: the decisions are people's). One row per pair, customer_a <
-- customer_b; a newer version replaces the older: a rerun of the matcher refreshes an open
-- pair, a decision (accepted, rejected) is final and the matcher never proposes the pair again.
CREATE TABLE IF NOT EXISTS duplicate_suggestions
(
    tenant LowCardinality(String),
    customer_a UUID,
    customer_b UUID,
    suggestion_id UUID,                  -- derived from the pair
    score Float64,
    rules Array(String),                 -- the blocking rules that proposed the pair
    evidence String,                     -- JSON: [{code, detail, similarity, weight}]
    status LowCardinality(String),       -- open, accepted, rejected
    found_at DateTime64(3, 'UTC'),
    decided_by String DEFAULT '',
    decided_at Nullable(DateTime64(3, 'UTC')),
    command_id String DEFAULT '',        -- the merge command an acceptance sent
    note String DEFAULT '',              -- why it was rejected, as the supervisor said
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, customer_a, customer_b)
SETTINGS old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
         max_cleanup_delay_period = 1;
