"""The port every timeline reader implements: resolve an id, read a page, read a head.

Each method may answer ``MISS``: this reader cannot say for certain (an index
not ready yet, a head not kept, a page beyond what a head holds), and the next
tier must be asked. The store's reader never misses.
"""

from __future__ import annotations

import abc
import uuid

from projections.timeline.model import Head, Page, Resolution, TimelineQuery, _Miss


class TimelineReader(abc.ABC):
    @abc.abstractmethod
    async def resolve(self, tenant: str, customer_id: uuid.UUID) -> Resolution | _Miss | None:
        """The survivor ``customer_id`` reads as now, with its aliases; None: no such customer."""

    @abc.abstractmethod
    async def page(self, tenant: str, resolution: Resolution, query: TimelineQuery) -> Page | _Miss:
        """One page of the survivor's timeline (its aliases' rows included), by the keyset rule."""

    @abc.abstractmethod
    async def head(self, tenant: str, resolution: Resolution, entries: int) -> Head | _Miss:
        """The newest ``entries`` entries as the API writes them, and whether that is all."""
