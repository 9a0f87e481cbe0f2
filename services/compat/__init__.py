"""Every workaround for a library's internals, fenced in one module per library.

``faust``, ``aiokafka``, ``eventsourcing`` and ``uvicorn`` are pinned (``pyproject.toml``);
what here reaches past their public APIs is checked by ``tests/unit/test_compat.py``,
which fails loudly when a pinned version changes, so an upgrade starts there.
Nothing here patches anything on import: a process that wants a patch calls
``install`` where it is composed.
"""

PINNED = {
    "faust-streaming": "0.15.3",
    "aiokafka": "0.14.0",
    "eventsourcing": "9.5.6",
    "uvicorn": "0.55.0",
}
