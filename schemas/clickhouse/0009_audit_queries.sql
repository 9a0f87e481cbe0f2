-- Every analyst query: who ran what, for which tenant, and what came of it. Also every
-- data-subject export. ORDER BY (tenant, at): the question asked is "what was read, when".
-- Not an analyst table (the guard refuses it): it records analysts.
CREATE TABLE IF NOT EXISTS audit_queries
(
    tenant LowCardinality(String),
    at DateTime64(3, 'UTC'),
    key_id String,                       -- the key's id (never the key)
    role LowCardinality(String),
    what LowCardinality(String),         -- sql, export
    query String,                        -- the SQL as written, or the exported customer id
    outcome LowCardinality(String),      -- ok, refused, limit, unavailable
    detail String,                       -- the refusal's or limit's code
    rows UInt64,
    elapsed_ms UInt32
)
ENGINE = MergeTree
ORDER BY (tenant, at);
