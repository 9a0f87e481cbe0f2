"""The body of an upload: a multipart form read within the size limit, its file saved and hashed.

Starlette parses the form (python-multipart underneath); the body is counted as it arrives,
so a client without a Content-Length cannot send more than the limit, and the file is copied
beside its job (where the job reads it) while its SHA-256 is taken.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from fastapi import HTTPException, Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import Message, Receive

from services.imports.sniffing import SUFFIXES
from services.ingest.errors import IngestError

FIELDS = frozenset(("file", "kind", "preset", "mapping", "source", "as_of", "region",
                    "encoding", "sheet"))  # fmt: skip
FORM_OVERHEAD = 256 << 10  # multipart framing and the small fields beside the file


class _TooLarge(Exception):
    pass


def too_large(what: str, limit: int) -> IngestError:
    return IngestError(413, "file_too_large", f"{what}; the limit is {limit} bytes "
                       "(TOUCHLINE_IMPORT_MAX_BYTES): split the file")  # fmt: skip


async def read_form(request: Request, limit: int) -> FormData:
    scope = {k: v for k, v in request.scope.items() if k != "app"}  # MultiPartException raw
    limited = Request(scope, _limited(request.receive, limit + FORM_OVERHEAD))
    try:
        return await limited.form(max_files=2, max_fields=len(FIELDS), max_part_size=256 << 10)
    except _TooLarge:
        raise too_large("the body is larger", limit) from None
    except (MultiPartException, HTTPException) as exc:
        detail = getattr(exc, "message", None) or getattr(exc, "detail", "")
        raise IngestError(
            400, "invalid_upload", f"the multipart body is malformed: {detail}"
        ) from None


def _limited(receive: Receive, max_bytes: int) -> Receive:
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise _TooLarge()
        return message

    return limited


def form_fields(form: FormData) -> tuple[UploadFile, dict[str, str]]:
    unknown = sorted(set(form.keys()) - FIELDS)
    if unknown:
        raise unprocessable("/" + unknown[0][:40], f"unknown field (known: {', '.join(sorted(FIELDS))})")  # fmt: skip
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise unprocessable("/file", "required: the CSV or Excel file, as a file part")
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in fields:
            raise unprocessable(f"/{name}", "given twice")
        if name == "mapping" and isinstance(value, UploadFile):
            fields["mapping"] = _mapping_text(value)
            fields["mapping_name"] = value.filename or "mapping"
        elif name != "file":
            if not isinstance(value, str):
                raise unprocessable(f"/{name}", "expected a text field, not a file")
            fields[name] = value.strip()
    return upload, fields


def _mapping_text(part: UploadFile) -> str:
    data = part.file.read(256 << 10)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unprocessable("/mapping", "the mapping must be UTF-8 TOML or JSON") from None


def file_suffix(upload: UploadFile) -> str:
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(415, "unsupported_file_type",
                          f"{(upload.filename or 'the file')[:100]!r}: expected a name ending in "
                          f"{', '.join(SUFFIXES)} (CSV text or an Excel workbook)")  # fmt: skip
    return suffix


def save_upload(source: BinaryIO, path: Path, limit: int) -> tuple[int, str]:
    """Copy the upload beside its job, hashing it; stop one byte past the limit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    source.seek(0)
    with path.open("wb") as out:
        while size <= limit and (chunk := source.read(1 << 20)):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def unprocessable(at: str, message: str) -> IngestError:
    return IngestError(422, "invalid_upload", f"{at[1:]}: {message}",
                       [{"pointer": at, "message": message}])  # fmt: skip
