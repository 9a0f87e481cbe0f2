"""``python -m services.kafka.jars``: fetch Kafka's jars ahead of time (``make setup`` runs it)."""

from __future__ import annotations

from services.kafka.broker import ensure_jars
from services.platform.settings import Settings

if __name__ == "__main__":
    print(f"kafka jars: {ensure_jars(Settings.from_env())}")
