-- Aggregates analysts ask for, kept by materialized views on `touchpoints`.
-- A view sees each insert block once. A re-delivered block that the dedup
-- token drops from `touchpoints` is dropped here too only because each target
-- has its own non_replicated_deduplication_window and the store sends
-- deduplicate_blocks_in_dependent_materialized_views = 1 (checked by the
-- contract tests). They count touchpoints as resolved when written: a later
-- merge does not move past rows to the survivor (exact post-merge numbers come
-- from touchpoints joined to customer_aliases).

-- Daily touchpoints by tenant, channel and type (channel mix, volume trends).
-- ORDER BY (tenant, day, channel, type): queries filter a tenant and a date
-- range and group by channel or type; SummingMergeTree adds `events` for rows
-- with the same key. Read with sum(events) ... GROUP BY.
CREATE TABLE IF NOT EXISTS daily_touchpoints
(
    tenant LowCardinality(String),
    day Date,
    channel LowCardinality(String),
    type LowCardinality(String),
    events UInt64
)
ENGINE = SummingMergeTree
ORDER BY (tenant, day, channel, type)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_touchpoints_mv TO daily_touchpoints AS
SELECT tenant, toDate(occurred_at) AS day, channel, type, count() AS events
FROM touchpoints
GROUP BY tenant, day, channel, type;

-- Daily active customers by channel (distinct customers with a touchpoint).
-- ORDER BY (tenant, day, channel): same filters as above; uniqExact states
-- merge across blocks and days (uniqExactMerge), so weekly or monthly actives
-- are exact too, not a sum of dailies.
CREATE TABLE IF NOT EXISTS daily_active_customers
(
    tenant LowCardinality(String),
    day Date,
    channel LowCardinality(String),
    customers AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, day, channel)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS daily_active_customers_mv TO daily_active_customers AS
SELECT tenant, toDate(occurred_at) AS day, channel, uniqExactState(customer_id) AS customers
FROM touchpoints
GROUP BY tenant, day, channel;

-- Email funnel per campaign: distinct messages sent, delivered, opened, clicked
-- (and bounced, replied, unsubscribed), so opening one message five times is one open.
-- ORDER BY (tenant, campaign_id, day): a campaign's funnel is read whole or by
-- day; states for one message on different days merge (uniqExactMerge), so an
-- open the day after the send is still one message.
CREATE TABLE IF NOT EXISTS email_funnel
(
    tenant LowCardinality(String),
    campaign_id String,                  -- '' for email without a campaign
    day Date,
    campaign_name SimpleAggregateFunction(anyLast, String),
    sent AggregateFunction(uniqExact, String),
    delivered AggregateFunction(uniqExact, String),
    opened AggregateFunction(uniqExact, String),
    clicked AggregateFunction(uniqExact, String),
    bounced AggregateFunction(uniqExact, String),
    replied AggregateFunction(uniqExact, String),
    unsubscribed AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (tenant, campaign_id, day)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS email_funnel_mv TO email_funnel AS
SELECT
    tenant,
    JSONExtractString(payload, 'campaign_id') AS campaign_id,
    toDate(occurred_at) AS day,
    anyLast(JSONExtractString(payload, 'campaign_name')) AS campaign_name,
    uniqExactStateIf(message_id, type = 'email.sent') AS sent,
    uniqExactStateIf(message_id, type = 'email.delivered') AS delivered,
    uniqExactStateIf(message_id, type = 'email.opened') AS opened,
    uniqExactStateIf(message_id, type = 'email.clicked') AS clicked,
    uniqExactStateIf(message_id, type = 'email.bounced') AS bounced,
    uniqExactStateIf(message_id, type = 'email.replied') AS replied,
    uniqExactStateIf(message_id, type = 'email.unsubscribed') AS unsubscribed
FROM
(
    SELECT tenant, occurred_at, type, payload, JSONExtractString(payload, 'message_id') AS message_id
    FROM touchpoints
    WHERE channel = 'email'
)
GROUP BY tenant, campaign_id, day;
