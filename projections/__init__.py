"""ClickHouse projections (built in a later issue)."""
