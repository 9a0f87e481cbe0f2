"""Tenant-declared custom attributes: where the declarations are kept, and their command."""
