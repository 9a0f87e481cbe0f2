"""Where ``services.compat`` reaches into faust, aiokafka and eventsourcing, it still finds what it needs.

An upgrade of any of the three starts here: the pins first, then the internals
each workaround touches, then (for the recorders) that the behaviour holds.
"""

from __future__ import annotations

import inspect
from contextvars import ContextVar
from importlib.metadata import version
from pathlib import Path

import pytest

from services.compat import PINNED


@pytest.mark.parametrize(("distribution", "pinned"), sorted(PINNED.items()))
def test_the_pinned_versions_are_installed(distribution: str, pinned: str) -> None:
    assert version(distribution) == pinned, (
        f"{distribution} is {version(distribution)}, compat was written against {pinned}: "
        f"re-check services/compat/ against it, then move the pin"
    )


def test_faust_still_has_what_compat_faust_touches() -> None:
    import faust
    from faust.streams import _current_event
    from faust.tables.base import Collection
    from faust.transport.consumer import Consumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Transport
    from faust.types.tuples import ack_lock

    assert isinstance(_current_event, ContextVar)
    assert hasattr(ack_lock, "__enter__")
    init = inspect.getsource(Consumer.__init__)
    for name in ("_acked", "_acked_index", "_committed_offset"):
        assert f"self.{name}" in init, name
    assert callable(AIOKafkaConsumerThread._create_worker_consumer)
    assert "Consumer" in vars(Transport) or hasattr(Transport, "Consumer")
    assert callable(Collection._on_changelog_sent)
    assert "self.spinner" in inspect.getsource(faust.Worker.__init__)
    assert callable(faust.Worker.on_setup_root_logger)


async def test_aiokafka_still_has_what_compat_aiokafka_touches() -> None:
    import aiokafka.consumer.fetcher as fetcher
    from aiokafka import AIOKafkaProducer

    assert callable(fetcher.PartitionRecords._unpack_records)
    source = inspect.getsource(fetcher.PartitionRecords)
    assert "self.next_fetch_offset" in source and "self._tp" in source
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
    assert producer._closed is False and hasattr(producer, "_sender")
    producer._closed = True  # never started: nothing to stop


def test_eventsourcing_recorders_store_every_position_in_one_transaction(tmp_path: Path) -> None:
    from eventsourcing.persistence import Tracking
    from eventsourcing.sqlite import SQLiteDatastore

    from services.compat.eventsourcing import SQLiteMultiTrackingRecorder

    recorder = SQLiteMultiTrackingRecorder(SQLiteDatastore(str(tmp_path / "positions.sqlite3")))
    recorder.create_table()
    recorder.insert_events([], tracking=Tracking("touchpoints-0", 7),
                           more_tracking=[Tracking("touchpoints-3", 41)])  # fmt: skip
    assert recorder.max_tracking_id("touchpoints-0") == 7
    assert recorder.max_tracking_id("touchpoints-3") == 41, "more_tracking no longer reaches SQL"


def test_uvicorn_still_has_what_compat_uvicorn_touches() -> None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    for name in ("connection_made", "on_message_begin", "on_headers_complete", "connection_lost"):
        assert callable(getattr(HttpToolsProtocol, name)), name
    source = inspect.getsource(HttpToolsProtocol.__init__)
    assert "self.loop" in source and "self.transport" in inspect.getsource(
        HttpToolsProtocol.connection_made
    )
