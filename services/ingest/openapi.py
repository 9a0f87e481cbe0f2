"""OpenAPI fragments for the hand-decoded /v1/events body."""

from __future__ import annotations

from typing import Any

from events.catalog import load_catalog

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer", "description": "position in the batch"},
                    "pointer": {"type": "string", "description": "JSON pointer to the field"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def _envelope() -> dict[str, Any]:
    schema = dict(load_catalog().envelope_schema)
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return schema


EVENTS_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One event, or an array of up to TOUCHLINE_MAX_BATCH_EVENTS events "
        "(default 1,000) in at most TOUCHLINE_MAX_BODY_BYTES (default 1 MiB). "
        "A batch is written all or nothing.",
        "content": {
            "application/json": {
                "schema": {"oneOf": [_envelope(), {"type": "array", "items": _envelope()}]}
            }
        },
    }
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Durable in Kafka (acks=all): accepted event ids, and which were duplicates"
    },
    400: _error("The body is not JSON, not an event or array, or empty"),
    401: _error("Missing, unknown or revoked API key"),
    403: _error("The key is for another tenant, or may not publish this type"),
    413: _error("Too many events or too many bytes"),
    422: _error("Events failing their schema; each named by index and JSON pointer"),
    503: _error("Kafka did not acknowledge in time; nothing was written; see Retry-After"),
}


_TEXT = {"type": "string"}
IMPORTS_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file (CSV text or an .xlsx workbook, at most "
        "TOUCHLINE_IMPORT_MAX_BYTES, default 256 MiB) and how to read it; see docs/imports.md.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": ["customers", "history"]},
                        "preset": {
                            "type": "string",
                            "description": "customers: auto (default), "
                            "japanese, english, shopify or hubspot",
                        },
                        "mapping": {
                            "type": "string",
                            "format": "binary",
                            "description": "a TOML or JSON column mapping",
                        },
                        "source": _TEXT,
                        "as_of": {
                            "type": "string",
                            "description": "occurred_at for rows "
                            "without a time column (default: the first upload of the "
                            "same bytes)",
                        },
                        "region": _TEXT,
                        "encoding": _TEXT,
                        "sheet": _TEXT,
                    },
                }
            }
        },
    }
}
IMPORTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "The job, queued: GET its Location for status and progress"},
    400: _error("The multipart body is malformed"),
    401: _error("Missing, unknown or revoked API key"),
    403: _error("The key is not a publisher's, or may not publish the import's event types"),
    413: _error("The file is larger than TOUCHLINE_IMPORT_MAX_BYTES"),
    415: _error("Not multipart/form-data, or the file's name is not .csv, .tsv, .txt or .xlsx"),
    422: _error("A field is wrong, or the file is not what its name says; each named"),
    503: _error("This ingest process has as many imports as it takes; see Retry-After"),
}
