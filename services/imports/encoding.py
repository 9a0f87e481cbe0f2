"""Which text encoding a CSV file is in: UTF-8 (with or without BOM) or what charset-normalizer finds.

Japanese software commonly exports Shift_JIS, in practice Windows' CP932 (which adds ①, ㈱ and
NEC's extensions to it), so a Shift_JIS guess is read as CP932.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

SAMPLE_BYTES = 1 << 20
#: What charset-normalizer may answer for Japanese text, and the codec that reads all of it.
_SUPERSETS = {"shift_jis": "cp932", "shift_jis_2004": "cp932", "shift_jisx0213": "cp932"}


@dataclass(frozen=True)
class Encoding:
    codec: str
    how: str  # said to the user: "BOM", "detected", "given", "ASCII/UTF-8"

    def describe(self) -> str:
        return f"{self.codec} ({self.how})"


def detect_encoding(path: Path, given: str | None = None) -> Encoding:
    """The encoding to read ``path`` with, judged from its first MiB unless ``given``."""
    if given:
        try:
            return Encoding(codecs.lookup(given).name, "given")
        except LookupError:
            raise ValueError(f"unknown encoding {given!r}") from None
    with path.open("rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "BOM")
    if _is_utf8(sample):
        return Encoding("utf-8", "valid UTF-8")
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        return Encoding("utf-8", "undetected, read as UTF-8")
    name = codecs.lookup(best.encoding).name
    return Encoding(_SUPERSETS.get(name, name), "detected")


def _is_utf8(sample: bytes) -> bool:
    """Valid UTF-8, allowing a character cut at the end of the sample."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True
