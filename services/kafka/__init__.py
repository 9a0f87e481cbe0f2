"""Kafka: the local broker, topic definitions, and the event log the ingest API appends to."""
