"""Bulk import of what a business already has: customer masters and interaction history from CSV or Excel files."""
