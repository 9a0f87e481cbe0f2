-- The customer profile, the merges and the identities, from the `customers` topic.
-- All three are ReplacingMergeTree tables keyed by what a reader looks up, with a
-- version column: the newest version wins at merge time, and readers that must
-- be exact before a merge take argMax(column, version) ... GROUP BY key (FINAL-free).

-- ORDER BY (tenant, customer_id): the profile is read one customer at a time
-- (the agent's page) and the key is what makes a newer version replace an
-- older one. version is the Customer aggregate's version (monotone per customer).
CREATE TABLE IF NOT EXISTS customers
(
    tenant LowCardinality(String),
    customer_id UUID,
    version UInt64,
    first_seen DateTime64(3, 'UTC'),
    identities Map(LowCardinality(String), Array(String)),  -- kind -> values; emptied on erasure
    consent Map(LowCardinality(String), Bool),               -- channel -> granted
    survivor_id UUID,                    -- itself, or the customer it was merged into
    erased Bool DEFAULT false,
    updated_at DateTime64(3, 'UTC')      -- when the identity store recorded this version
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, customer_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per merged-away customer: alias -> survivor.
-- ORDER BY (tenant, alias_id): an alias has exactly one current survivor, and
-- when that survivor is merged in turn the projector re-points the alias with a
-- higher version, which must replace the old row; so the alias is the key.
-- The timeline read goes the other way (all aliases of a survivor): the bloom
-- filter index skips granules without that survivor, and the table stays small
-- (merges are rare next to events).
CREATE TABLE IF NOT EXISTS customer_aliases
(
    tenant LowCardinality(String),
    alias_id UUID,
    survivor_id UUID,
    version UInt64,                      -- the alias's Customer version that recorded the merge
    reason String,                       -- the identity key that proved them one person
    cause_event_id String,               -- the touchpoint that caused the merge
    merged_at DateTime64(3, 'UTC'),
    INDEX survivor_lookup survivor_id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, alias_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Which customer an identifier belongs to now.
-- ORDER BY (tenant, kind, value): the agent searches by phone or email, an
-- exact lookup on this key; a reassignment (merge, detach) is a newer version
-- of the same key. version grows with the identity store's recorded time.
CREATE TABLE IF NOT EXISTS identities
(
    tenant LowCardinality(String),
    kind LowCardinality(String),         -- customer_ref, email, phone, loyalty_id, device_id, social
    value String,
    customer_id UUID,
    version UInt64,
    linked Bool DEFAULT true,            -- false once detached or erased: hides older versions
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, kind, value)
SETTINGS non_replicated_deduplication_window = 1000;
