"""The key store and envelope protector a process uses, from its settings (None: encryption off)."""

from __future__ import annotations

from events.catalog import load_catalog
from events.identities import is_junk
from events.privacy.cache import CachedKeyStore
from events.privacy.keystore import KeyStore
from events.privacy.protector import EnvelopeProtector
from services.platform.settings import Settings
from services.privacy.root_key import load_root_keys
from services.privacy.store import open_keystore

#: how long a process trusts a key it read: erasing in another process takes effect this late
#: (docs/decisions/0026-crypto-shredding.md)
CACHE_TTL_S = 5.0


def open_key_store(settings: Settings) -> KeyStore | None:
    """The deployment's key store (the root key file created on first use); None when off."""
    if not settings.encrypt_pii:
        return None
    settings.root_key_path.parent.mkdir(parents=True, exist_ok=True)
    keyring = load_root_keys(settings.root_key_path)
    return open_keystore(settings.key_store_url, keyring)


def open_protector(settings: Settings) -> EnvelopeProtector | None:
    """Seals and opens envelopes for this process, through a short-lived key cache."""
    store = open_key_store(settings)
    if store is None:
        return None
    return EnvelopeProtector(CachedKeyStore(store, ttl=CACHE_TTL_S), load_catalog(), is_junk)
