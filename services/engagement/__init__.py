"""Per-customer state: engagement score, RFM, churn risk, channel activity."""
