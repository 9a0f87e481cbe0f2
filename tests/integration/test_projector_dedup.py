"""The projector's dedup stage keeps an event's earliest sighting, whatever order copies are read in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from events.topics import RESOLVED
from projections.dedup import Dedup
from projections.migrations import apply_migrations
from projections.rows import SourceRecord
from projections.store import open_projection_store

pytestmark = pytest.mark.integration

ALIAS, SURVIVOR = "3978119f-f98d-5dd5-aaae-d21eddbebc99", "39c93dd0-a00c-57f0-a759-36cc0732369a"
EVENT = "90952db3-f2b0-4d86-9f82-ae5d6a752133"


def copy(partition: int, offset: int, customer: str, sighting: Any, at_ms: int) -> SourceRecord:
    body = {"tenant": "t1", "event_id": EVENT, "customer_id": customer, "type": "web.page_viewed"}
    if sighting is not None:
        body["sighting"] = sighting
    return SourceRecord(RESOLVED, partition, offset, None, orjson.dumps(body), at_ms)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]])
def test_the_first_sighting_is_kept_over_later_copies_in_lower_partitions(
    tmp_path: Path, order: list[int]
) -> None:
    """The case a test run met: the alias's original lost to the survivor's copies in partition 6."""
    copies = [
        copy(9, 40, ALIAS, [4, 51], 1_000),  # the original: resolved to the customer it created
        copy(6, 65, SURVIVOR, [4, 77], 1_000),  # the event sent again, after the merge
        copy(6, 51, SURVIVOR, [4, 51], 1_200),  # the engagement stage following the merge
        copy(2, 7, SURVIVOR, None, 900),  # a record from before sightings were recorded
    ]
    store = open_projection_store(f"chdb://{tmp_path}")
    try:
        apply_migrations(store)
        kept = Dedup(store).unseen([copies[i] for i in order])
    finally:
        store.close()
    assert list(kept) == [("t1", EVENT)]
    assert orjson.loads(kept[("t1", EVENT)].value)["customer_id"] == ALIAS
