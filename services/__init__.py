"""Touchline's runnable services: ingest API, publisher, Kafka broker control, CLI."""
