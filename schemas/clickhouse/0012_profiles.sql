-- The customer record: profile fields, name search keys, and consent as explicit states.

-- One row per (profile event, field): what each source said about each field, and when.
-- ORDER BY (tenant, customer_id, field, ...): the profile is read one customer at a time
-- and decided per field; the key ends with the event, so a duplicate row folds into one.
-- rank is the source's precedence when the row was projected (TOUCHLINE_PROFILE_SOURCE_
-- PRECEDENCE; a change takes a replay). value is JSON; 'null' is a field the source cleared.
-- customer_id is the customer when the event was resolved (an alias after a merge).
CREATE TABLE IF NOT EXISTS profile_fields
(
    tenant LowCardinality(String),
    customer_id UUID,
    field LowCardinality(String),        -- name.family, emails, address.postal_code, attributes.plan
    value String,                        -- JSON
    source LowCardinality(String),
    rank UInt8,
    occurred_at DateTime64(3, 'UTC'),
    event_id UUID
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, customer_id, field, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 1000, old_parts_lifetime = 1,
    cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1;

-- The keys a name search matches (events.names.search_keys: folded kanji, kana, romaji, both
-- orders), one row per key per profile event that set a name part.
-- ORDER BY (tenant, key): a search is an exact or prefix lookup of a folded key.
CREATE TABLE IF NOT EXISTS customer_names
(
    tenant LowCardinality(String),
    key String,
    customer_id UUID,
    occurred_at DateTime64(3, 'UTC'),
    event_id UUID
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant, key, customer_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000, old_parts_lifetime = 1,
    cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1;

-- Each customer's current survivor: itself unless merged (customer_aliases maps an alias
-- straight to its current survivor).
CREATE VIEW IF NOT EXISTS customer_survivors AS
SELECT tenant, alias_id AS customer_id, argMax(survivor_id, version) AS survivor_id
FROM customer_aliases
GROUP BY tenant, alias_id;

-- The profile as analysts read it: per surviving customer and field, the winning value
-- (highest rank, then latest occurred_at, then event id), cleared fields left out.
CREATE VIEW IF NOT EXISTS profiles AS
SELECT tenant, customer_id, field, value, source, occurred_at
FROM
(
    SELECT
        f.tenant AS tenant,
        if(s.survivor_id = toUUID('00000000-0000-0000-0000-000000000000'), f.customer_id, s.survivor_id) AS customer_id,
        f.field AS field,
        argMax(f.value, (f.rank, f.occurred_at, toString(f.event_id))) AS value,
        argMax(f.source, (f.rank, f.occurred_at, toString(f.event_id))) AS source,
        argMax(f.occurred_at, (f.rank, f.occurred_at, toString(f.event_id))) AS occurred_at
    FROM profile_fields AS f
    LEFT JOIN customer_survivors AS s ON s.tenant = f.tenant AND s.customer_id = f.customer_id
    GROUP BY tenant, customer_id, field
)
WHERE value != 'null';

-- Consent per surviving customer, channel and purpose, always one of granted, withdrawn or
-- unknown (nothing recorded): the latest consent event by occurred_at, then event id;
-- email.unsubscribed withdraws email marketing. Erased and merged-away customers are left out.
CREATE VIEW IF NOT EXISTS consent_state AS
SELECT
    c.tenant AS tenant,
    c.customer_id AS customer_id,
    k.channel AS channel,
    k.purpose AS purpose,
    if(e.state = '', 'unknown', e.state) AS state,
    e.changed_at AS changed_at,
    e.source AS source
FROM
(
    SELECT tenant, customer_id
    FROM customers
    GROUP BY tenant, customer_id
    HAVING argMax(survivor_id, version) = customer_id AND NOT argMax(erased, version)
) AS c
CROSS JOIN
(
    SELECT ch.channel AS channel, pu.purpose AS purpose
    FROM (SELECT arrayJoin(['email', 'sms', 'phone', 'post', 'line', 'push', 'web']) AS channel) AS ch
    CROSS JOIN (SELECT arrayJoin(['marketing', 'service', 'profiling']) AS purpose) AS pu
) AS k
LEFT JOIN
(
    SELECT
        tenant, customer_id, channel, purpose,
        argMax(state, (occurred_at, event_id)) AS state,
        max(occurred_at) AS changed_at,
        argMax(source, (occurred_at, event_id)) AS source
    FROM
    (
        SELECT
            t.tenant AS tenant,
            if(s.survivor_id = toUUID('00000000-0000-0000-0000-000000000000'), t.customer_id, s.survivor_id) AS customer_id,
            if(t.type = 'email.unsubscribed', 'email', JSONExtractString(t.payload, 'channel')) AS channel,
            if(t.type = 'email.unsubscribed', 'marketing', JSONExtractString(t.payload, 'purpose')) AS purpose,
            if(t.type = 'consent.granted', 'granted', 'withdrawn') AS state,
            t.occurred_at AS occurred_at,
            toString(t.event_id) AS event_id,
            t.source AS source
        FROM touchpoints AS t
        LEFT JOIN customer_survivors AS s ON s.tenant = t.tenant AND s.customer_id = t.customer_id
        WHERE t.type IN ('consent.granted', 'consent.withdrawn', 'email.unsubscribed')
    )
    GROUP BY tenant, customer_id, channel, purpose
) AS e ON e.tenant = c.tenant AND e.customer_id = c.customer_id AND e.channel = k.channel AND e.purpose = k.purpose;
