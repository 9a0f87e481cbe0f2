"""Crypto-shredding: personal data sealed under a key per data subject, erased by deleting keys.

Pure building blocks every wing may import (no I/O here besides what a ``KeyStore``
adapter does behind its port). See ``docs/decisions/0100-crypto-shredding.md``.
"""
