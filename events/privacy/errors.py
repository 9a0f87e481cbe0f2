"""What can go wrong when sealing or opening personal data, each with its own type."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from events.privacy.keystore import ErasureReceipt


class PrivacyError(Exception):
    """Base of the errors below."""


class TamperedCiphertext(PrivacyError):
    """A sealed value does not parse or does not authenticate at its tenant and place.

    Raised for edits, truncation, and a ciphertext moved to another tenant or field;
    never for erased data (that opens as erased).
    """


class UnknownKeyError(PrivacyError):
    """A sealed value names a key this tenant never had (not an erased one).

    Either the value was forged or moved across tenants, or the reader is wired to the
    wrong key store: both must stop the reader, not read as erased.
    """


class KeyStoreError(PrivacyError):
    """The key store failed (the database error is chained); the operation may be retried."""


class ErasureIncomplete(KeyStoreError):
    """Keys were deleted but their bytes may still be on disk; erase again to finish.

    Erasure is idempotent, so repeating the call completes the scrub. ``receipt`` is the
    erasure that did happen (its key ids are for the caches; a repeat erases none).
    """

    def __init__(self, message: str, receipt: ErasureReceipt | None = None) -> None:
        super().__init__(message)
        self.receipt = receipt


class RootKeyError(PrivacyError):
    """The key-encryption key is missing, malformed, exposed, or not the one that wrapped a key."""
