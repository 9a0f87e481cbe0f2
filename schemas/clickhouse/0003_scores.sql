-- Engagement scores and RFM, from the `scores` topic (model in services/engagement/model.py).

-- Every published score: the history behind a customer's trend line.
-- ORDER BY (tenant, customer_id, as_of): one customer's history in time order,
-- and the newest row is the last of that customer's range (ORDER BY as_of DESC
-- LIMIT 1 reads almost nothing). Plain MergeTree: each row is a distinct fact.
CREATE TABLE IF NOT EXISTS engagement_scores
(
    tenant LowCardinality(String),
    customer_id UUID,
    as_of DateTime64(3, 'UTC'),          -- the time the score was computed for
    model_version LowCardinality(String),
    score Float64,                       -- 0..100
    raw Float64,                         -- S, the decayed weighted sum
    events UInt32,                       -- distinct events the score is a function of
    contributions String,                -- JSON list: channel, type, events, weight, value (largest first)
    channels String                      -- JSON: channel -> {count, last_contact_ms}
)
ENGINE = MergeTree
ORDER BY (tenant, customer_id, as_of)
SETTINGS non_replicated_deduplication_window = 1000;

-- The current score per customer, for "top customers" and segment queries.
-- ORDER BY (tenant, customer_id) with ReplacingMergeTree(as_of): one row per
-- customer after merges; exact reads use argMax(score, as_of).
CREATE TABLE IF NOT EXISTS engagement_current
(
    tenant LowCardinality(String),
    customer_id UUID,
    as_of DateTime64(3, 'UTC'),
    model_version LowCardinality(String),
    score Float64,
    contributions String
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY (tenant, customer_id)
SETTINGS non_replicated_deduplication_window = 1000;  -- a re-delivered score block is dropped here too

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_current_mv TO engagement_current AS
SELECT tenant, customer_id, as_of, model_version, score, contributions
FROM engagement_scores;

-- Recency, frequency, monetary over 365 days, with the segment and churn risk.
-- ORDER BY (tenant, customer_id) with ReplacingMergeTree(as_of): analysts ask
-- about the current state (segment counts, churn-risk lists), one row per customer.
CREATE TABLE IF NOT EXISTS rfm
(
    tenant LowCardinality(String),
    customer_id UUID,
    as_of DateTime64(3, 'UTC'),
    model_version LowCardinality(String),
    recency_days Nullable(Float64),      -- NULL: no purchase in the window
    frequency UInt32,                    -- purchases in the window
    monetary Decimal(18, 4),             -- purchases minus refunds in the window
    segment LowCardinality(String),      -- champion, loyal, new, at_risk, hibernating, prospect
    churn_risk LowCardinality(String)    -- low, medium, high, unknown
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY (tenant, customer_id)
SETTINGS non_replicated_deduplication_window = 1000;
