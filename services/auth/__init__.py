"""API keys: who may publish or read, for which tenant."""
