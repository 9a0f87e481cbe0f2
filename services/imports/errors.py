"""What stops an import before its first row: the file or the mapping cannot be used."""

from __future__ import annotations


class ImportFileError(ValueError):
    """The file cannot be read as a table (unknown format, unreadable, no header row)."""


class MappingError(ValueError):
    """The mapping file or preset does not fit (unknown target, missing column); the message says where."""
