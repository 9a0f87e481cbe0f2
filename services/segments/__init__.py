"""Segment membership kept current by the projection service (``docs/segments.md``)."""
