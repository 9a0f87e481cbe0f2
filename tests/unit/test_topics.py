"""The topics Touchline creates include the one faust would otherwise create late."""

from __future__ import annotations

from pathlib import Path

from events.topics import changelog_topic
from services.kafka.topics import topic_specs
from services.platform.settings import Settings
from services.streams.app import create_stream_app


def test_the_engagement_changelog_is_created_with_the_other_topics(tmp_path: Path) -> None:
    """Same name as faust gives it, as many partitions as its source, compacted.

    If faust named it differently, the worker would still race its own topic creation.
    """
    settings = Settings.from_env({"TOUCHLINE_DATA_DIR": str(tmp_path),
                                  "TOUCHLINE_WORKER_GROUP": "group-7"})  # fmt: skip
    app = create_stream_app(settings, store="memory://")
    faust_name = app.tables["customer_state"].changelog_topic.get_topic_name()
    specs = {spec.name: spec for spec in topic_specs(settings)}

    assert (
        changelog_topic(settings.worker_group) == faust_name == "group-7-customer_state-changelog"
    )
    assert specs[faust_name].partitions == settings.kafka_partitions
    assert specs[faust_name].config == {"cleanup.policy": "compact"}
