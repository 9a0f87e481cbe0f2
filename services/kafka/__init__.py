"""Kafka: the local broker, creating the topics, the transactional event log, the stages' output writer, lag."""
