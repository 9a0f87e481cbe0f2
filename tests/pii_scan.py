"""Searching every byte a system holds for personal values, compressed storage included.

A plain byte search misses what storage compresses: ClickHouse column files
(``*.bin``: LZ4 or ZSTD blocks) and Kafka segments (record batches compressed
with lz4 or zstd). Those are read the way their owners read them and searched
in clear as well as raw.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import cramjam
import lz4.block
from aiokafka.record.memory_records import MemoryRecords

_CH_HEADER = 16 + 9  # checksum, then method, compressed size (with these 9 bytes), size


def clickhouse_blocks(data: bytes) -> Iterator[bytes]:
    """The decompressed blocks of a ClickHouse compressed file (stops at anything else)."""
    at = 0
    while at + _CH_HEADER <= len(data):
        method = data[at + 16]
        compressed, size = struct.unpack_from("<II", data, at + 17)
        body = data[at + _CH_HEADER : at + 16 + compressed]
        if compressed < 9 or len(body) != compressed - 9:
            return
        if method == 0x82:
            yield lz4.block.decompress(body, uncompressed_size=size)
        elif method == 0x90:
            yield bytes(cramjam.zstd.decompress(body))
        elif method == 0x02:
            yield body
        else:
            return
        at += 16 + compressed


def kafka_records(data: bytes) -> Iterator[bytes]:
    """Every record's key and value in a Kafka segment file, decompressed."""
    try:
        records = MemoryRecords(data)
        while records.has_next():
            batch = records.next_batch()
            if batch is None:
                return
            for record in batch:
                yield (record.key or b"") + b"\n" + (record.value or b"")
    except Exception:  # a segment's preallocated tail, or a torn batch: the raw scan covers it
        return


def readable(path: Path) -> Iterator[bytes]:
    """The file's bytes, and what its owner would read out of them."""
    data = path.read_bytes()
    yield data
    if path.suffix == ".bin":
        yield from clickhouse_blocks(data)
    elif path.suffix == ".log" and path.stem.isdigit():
        yield from kafka_records(data)


def hits(roots: Iterable[Path], needles: Iterable[str]) -> list[tuple[str, str]]:
    """(file, value) for every value found in readable form under ``roots``."""
    wanted = {n: n.encode() for n in needles}
    found = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            for text in readable(path):
                for needle, raw in wanted.items():
                    if raw in text and (str(path), needle) not in found:
                        found.append((str(path), needle))
    return found
