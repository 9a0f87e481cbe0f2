-- Tables that hold personal data in clear: an erasure rewrites their parts (ALTER ... DELETE,
-- synchronously) and the parts it replaced must leave the disk within seconds, not after the
-- default 8 minutes (old_parts_lifetime). chDB's cleanup runs every second for these tables.
ALTER TABLE touchpoints MODIFY SETTING old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE customers MODIFY SETTING old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE identities MODIFY SETTING old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE engagement_scores MODIFY SETTING old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE engagement_current MODIFY SETTING old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE rfm MODIFY SETTING old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
ALTER TABLE audit_queries MODIFY SETTING old_parts_lifetime = 1, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0;
