-- 0010 set a one-second cleanup period, but MergeTree's cleanup backs off while a table is
-- quiet, up to max_cleanup_delay_period (300 s by default): an erasure's replaced parts stayed
-- on disk for minutes (measured: still there 105 s after the erasure). One second, always.
ALTER TABLE touchpoints MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE customers MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE identities MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE engagement_scores MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE engagement_current MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE rfm MODIFY SETTING max_cleanup_delay_period = 1;
ALTER TABLE audit_queries MODIFY SETTING max_cleanup_delay_period = 1;
