"""faust's own ceiling: one agent that takes ``touchpoints`` in batches and does nothing with them.

Run by ``bench.processing`` as a child process (faust wants a worker of its own);
it prints the events/s from the first to the last of ``--count`` events and exits.
Whatever the stages do, a faust worker cannot go faster than this on the machine.

    .venv/bin/python -m bench.faust_floor --bootstrap HOST:PORT --count N --batch B --datadir DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any

from events.topics import TOUCHPOINTS
from services.compat.faust import QuietWorker, StreamApp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--datadir", required=True)
    args = parser.parse_args()
    app = StreamApp(f"faust-floor-{uuid.uuid4().hex[:8]}", broker=f"kafka://{args.bootstrap}",
                    store="memory://", datadir=args.datadir, web_enabled=False,
                    consumer_auto_offset_reset="earliest", topic_replication_factor=1, topic_partitions=12,
                    stream_buffer_maxsize=args.batch * 4)  # fmt: skip
    topic = app.topic(TOUCHPOINTS, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "first": 0, "start": 0.0}

    @app.agent(topic)  # type: ignore[untyped-decorator]
    async def count(stream: Any) -> None:
        async for events in stream.take_events(args.batch, within=0.1):
            if not seen["n"]:  # timed from the end of the first batch (start-up excluded)
                seen["start"], seen["first"] = time.perf_counter(), len(events)
            seen["n"] += len(events)
            if seen["n"] >= args.count:
                rate = (seen["n"] - seen["first"]) / (time.perf_counter() - seen["start"])
                print(f"faust-floor-rate {rate:.0f}", flush=True)
                os._exit(0)  # the figure is out; a graceful faust shutdown takes seconds

    sys.argv[1:] = []  # the worker reads the command line too; ours is not for it
    QuietWorker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
