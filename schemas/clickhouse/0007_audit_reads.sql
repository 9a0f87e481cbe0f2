-- Who read which customer, when: every profile, timeline and stream read by an agent.
-- ORDER BY (tenant, customer_id, read_at): the question asked of it is "who looked at this
-- customer", and analysts query it per tenant like any other table.
CREATE TABLE IF NOT EXISTS audit_reads
(
    tenant LowCardinality(String),
    customer_id UUID,
    read_at DateTime64(3, 'UTC'),
    key_id String,                       -- the agent token's id (never the token)
    role LowCardinality(String),         -- agent (masked PII) or supervisor (full)
    what LowCardinality(String)          -- profile, timeline, stream
)
ENGINE = MergeTree
ORDER BY (tenant, customer_id, read_at);
