"""The projection store contract on a ClickHouse server, when TOUCHLINE_CLICKHOUSE_URL names one.

No modern ClickHouse server can run on the machines Touchline is developed on
(Debian's package is 2018's 18.16, which clickhouse-connect cannot talk to, and
there is no Docker), so this module skips there and runs wherever the variable
points at a server, e.g. ``http://default:@127.0.0.1:8123/touchline_test``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from projections.store import ProjectionStoreUnavailable, open_projection_store
from tests.integration.projection_contract import ProjectionStoreContract

SERVER_URL = os.environ.get("TOUCHLINE_CLICKHOUSE_URL", "")

needs_server = pytest.mark.skipif(
    not SERVER_URL.startswith(("http://", "https://")),
    reason="no ClickHouse server: set TOUCHLINE_CLICKHOUSE_URL=http://user:pw@host:8123/db "
    "to run the projection store contract against one (none can run on this machine)",
)


@needs_server
class TestClickHouseProjectionStore(ProjectionStoreContract):
    @pytest.fixture(scope="class")
    @classmethod
    def store_url(cls) -> Iterator[str]:
        yield SERVER_URL


def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    """Runs without a server: the adapter translates the driver's error into the port's."""
    with pytest.raises(ProjectionStoreUnavailable, match="cannot reach ClickHouse"):
        open_projection_store("http://default:@127.0.0.1:1/touchline")
