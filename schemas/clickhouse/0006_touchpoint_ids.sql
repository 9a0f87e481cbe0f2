-- The dedup stage's index: which events the touchpoints table already holds.
--
-- touchpoints.resolved is at-least-once: a worker restarted after a crash
-- re-emits what it resolved but could not confirm, sometimes under the
-- survivor's id instead of the alias's. Those repeats must not reach
-- touchpoints, or the materialized views would count them. Before each flush
-- the projector looks the batch's (tenant, event_id) pairs up here and drops
-- the ones already projected; it writes this table after touchpoints, so a
-- crash in between cannot hide an event that was never written.
-- ORDER BY (tenant, event_id): the lookup is exactly that key.
CREATE TABLE IF NOT EXISTS touchpoint_ids
(
    tenant LowCardinality(String),
    event_id UUID
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
