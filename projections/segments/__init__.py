"""Segments: named, versioned audiences per tenant, as rules or analyst SQL (``docs/segments.md``)."""
