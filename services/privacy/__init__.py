"""Key store adapters (SQLite, PostgreSQL) and the root key file, behind ``events.privacy.keystore``."""
