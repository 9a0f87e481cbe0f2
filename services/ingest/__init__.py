"""The HTTP ingest API: POST /v1/events."""
