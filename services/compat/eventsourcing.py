"""eventsourcing's process recorders, made to store several positions in one transaction.

A worker batch holds a few events from each of up to a dozen partitions. One
transaction per partition cost a commit (an fsync with SQLite) each: commits
were 10% of the worker's samples in a py-spy profile at 100 events/s. With
these recorders the resolver applies the whole batch in one transaction that
records every partition's position: ``more_tracking`` rides along with the
usual ``tracking`` through eventsourcing's ``saved_kwargs``.

eventsourcing's own recorders accept unknown keyword arguments and ignore
them, which would lose positions silently; the resolver therefore refuses to
run on a recorder that is not one of these (``MultiTracking``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder


class MultiTracking:
    """Marks a recorder that stores ``more_tracking`` with the events."""


class SQLiteMultiTrackingRecorder(SQLiteProcessRecorder, MultiTracking):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        more: Sequence[Tracking] = kwargs.get("more_tracking", ())
        for tracking in more:
            self._insert_tracking(c, tracking)
        return returning


class PostgresMultiTrackingRecorder(PostgresProcessRecorder, MultiTracking):
    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        more: Sequence[Tracking] = kwargs.get("more_tracking", ())
        for tracking in more:  # first, as eventsourcing does: a conflict fails before any insert
            self._insert_tracking(curs, tracking=tracking)
        super()._insert_events(curs, stored_events, **kwargs)


class POPOMultiTrackingRecorder(POPOProcessRecorder, MultiTracking):
    """In memory, for tests: eventsourcing's POPO factory takes no recorder topic."""

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        for tracking in kwargs.get("more_tracking", ()):
            self._assert_tracking_uniqueness(tracking)

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._update_table(stored_events, **kwargs)
        for tracking in kwargs.get("more_tracking", ()):
            self._insert_tracking(tracking)
        return notification_ids


RECORDER_TOPICS = {
    "sqlite": f"{__name__}:SQLiteMultiTrackingRecorder",
    "postgres": f"{__name__}:PostgresMultiTrackingRecorder",
}
