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

#: how long a reader (the projector, a replay) trusts a key it read: an erasure in another
#: process takes effect this late for it (docs/decisions/0026-crypto-shredding.md)
CACHE_TTL_S = 5.0
#: how long a writer (ingest, the publisher, an import) trusts a key: the safe direction, since
#: a value sealed under a key erased meanwhile reads as erased; long enough that a busy ingest
#: does not go back to the store for every subject every few seconds
WRITER_CACHE_TTL_S = 60.0


def open_key_store(settings: Settings) -> KeyStore | None:
    """The deployment's key store (the root key file created on first use); None when off."""
    if not settings.encrypt_pii:
        return None
    settings.root_key_path.parent.mkdir(parents=True, exist_ok=True)
    keyring = load_root_keys(settings.root_key_path)
    return open_keystore(settings.key_store_url, keyring)


def open_protector(settings: Settings, ttl: float = CACHE_TTL_S) -> EnvelopeProtector | None:
    """Seals and opens envelopes for this process, through a key cache of ``ttl`` seconds."""
    store = open_key_store(settings)
    if store is None:
        return None
    return EnvelopeProtector(CachedKeyStore(store, ttl=ttl), load_catalog(), is_junk)


def open_sealer(settings: Settings) -> EnvelopeProtector | None:
    """The protector of a process that only writes (it keeps keys for ``WRITER_CACHE_TTL_S``)."""
    return open_protector(settings, WRITER_CACHE_TTL_S)
