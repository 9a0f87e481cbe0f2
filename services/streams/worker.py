"""``touchline worker``: run the stream processors until SIGINT/SIGTERM."""

from __future__ import annotations

import faust

from services.settings import Settings
from services.streams.app import create_stream_app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    app = create_stream_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
