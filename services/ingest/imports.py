"""``POST /v1/imports``: a CSV or Excel file uploaded, imported by a job; its status and report.

The upload is ``multipart/form-data``: the file in a part named ``file``, ``kind``
(``customers`` or ``history``) and optionally ``preset``, ``mapping`` (a TOML or JSON
document, as a file or a field), ``source``, ``as_of``, ``region``, ``encoding``, ``sheet``.
A publisher key of the tenant may upload (it must be allowed the types the import produces)
and read its tenant's jobs; another tenant's job id is not found. What can be told before the
first row is answered at once (413, 415, 422); the rows are the job's (``GET`` its status).
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import hashlib
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO, cast
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.responses import FileResponse, Response
from starlette.types import Message, Receive

from events.catalog import load_catalog
from events.timestamps import format_instant, now_utc
from services.auth.keys import ApiKey, KeyStore
from services.imports.dates import DateProblem, parse_instant
from services.imports.errors import ImportFileError, MappingError
from services.imports.history import history_mapping
from services.imports.job_runner import Busy, ImportJobs
from services.imports.jobs import Job
from services.imports.mapping import customer_mapping, load_text
from services.imports.planning import ImportRequest, Kind
from services.imports.presets import presets
from services.imports.sniffing import SUFFIXES, sniff
from services.ingest.errors import IngestError, json_response
from services.ingest.http import authenticate
from services.ingest.openapi import IMPORTS_REQUEST, IMPORTS_RESPONSES
from services.platform.settings import Settings

FIELDS = frozenset(("file", "kind", "preset", "mapping", "source", "as_of", "region",
                    "encoding", "sheet"))  # fmt: skip
CUSTOMER_TYPES = ("customer.profile_updated", "consent.granted", "consent.withdrawn")
FORM_OVERHEAD = 256 << 10  # multipart framing and the small fields beside the file
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_RETRY_AFTER_S = 30


class _TooLarge(Exception):
    pass


def imports_router(keys: KeyStore, jobs: ImportJobs, settings: Settings) -> APIRouter:
    router = APIRouter()
    limit = settings.import_max_bytes

    @router.post("/v1/imports", status_code=202, summary="Upload a CSV or Excel file to import",
                 openapi_extra=IMPORTS_REQUEST, responses=IMPORTS_RESPONSES)  # fmt: skip
    async def post_import(request: Request) -> Response:
        try:
            key = _importer(request, keys)
            _check_declared_size(request, limit)
            jobs.reserve()
        except Busy as exc:
            return IngestError(503, "busy", f"{exc}; retry later",
                               headers={"Retry-After": str(_RETRY_AFTER_S)}).response()  # fmt: skip
        except IngestError as err:
            return err.response()
        try:
            job = await _accept(request, key, jobs, limit)
        except IngestError as err:
            jobs.release()
            return err.response()
        except BaseException:
            jobs.release()
            raise
        return json_response(job.as_dict(), 202, {"Location": f"/v1/imports/{job.job_id}"})

    @router.get("/v1/imports/{job_id}", summary="An import job's status and progress")
    async def get_import(job_id: str, request: Request) -> Response:
        try:
            job = _job(request, keys, jobs, job_id)
        except IngestError as err:
            return err.response()
        return json_response(job.as_dict(), 200)

    @router.get("/v1/imports/{job_id}/report", summary="The job's per-row report (CSV)")
    async def get_report(job_id: str, request: Request) -> Response:
        try:
            job = _job(request, keys, jobs, job_id)
            path = jobs.report_path(job.job_id)
            if not path.is_file():
                raise IngestError(404, "no_report", _no_report(job))
        except IngestError as err:
            return err.response()
        return FileResponse(path, media_type="text/csv; charset=utf-8",
                            filename=f"{Path(job.file_name).stem}.report.csv",
                            headers={"X-Import-Status": job.status})  # fmt: skip

    return router


def _importer(request: Request, keys: KeyStore) -> ApiKey:
    key = authenticate(request, keys)
    if key.role != "publisher":
        raise IngestError(403, "forbidden", f"a key with role {key.role!r} may not import")
    return key


def _job(request: Request, keys: KeyStore, jobs: ImportJobs, job_id: str) -> Job:
    key = _importer(request, keys)
    job = jobs.store.get(key.tenant, job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        raise IngestError(404, "not_found", f"no import job {job_id[:40]!r} for this tenant")
    return job


def _no_report(job: Job) -> str:
    if job.status == "queued":
        return "the job has not started: its report begins with its first row"
    if job.error:
        return f"no report: the job ended before its first row ({job.error})"
    return "the report is no longer kept (see TOUCHLINE_IMPORT_RETENTION_HOURS)"


def _check_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise _too_large(f"the body is {declared} bytes", limit)
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise IngestError(415, "unsupported_media_type", "send multipart/form-data with the "
                          f"file in a part named 'file' (got {kind[:80] or 'no content type'!r})")  # fmt: skip


def _too_large(what: str, limit: int) -> IngestError:
    return IngestError(413, "file_too_large", f"{what}; the limit is {limit} bytes "
                       "(TOUCHLINE_IMPORT_MAX_BYTES): split the file")  # fmt: skip


async def _accept(request: Request, key: ApiKey, jobs: ImportJobs, limit: int) -> Job:
    form = await _form(request, limit)
    try:
        upload, fields = _fields(form)
        job_id = uuid.uuid4().hex
        path = jobs.job_dir(job_id) / f"upload{_suffix(upload)}"
        size, digest = await asyncio.to_thread(_save, upload.file, path, limit)
    finally:
        await form.close()
    try:
        if size > limit:
            raise _too_large(f"the file is larger than {limit} bytes", limit)
        return await _start(key, jobs, job_id, path, upload, fields, digest)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _start(
    key: ApiKey,
    jobs: ImportJobs,
    job_id: str,
    path: Path,
    upload: UploadFile,
    fields: Mapping[str, str],
    digest: str,
) -> Job:
    import_request = _request(key, path, upload, fields)
    try:
        await asyncio.to_thread(sniff, path, path.suffix, import_request.sheet)
    except ImportFileError as exc:
        raise IngestError(422, "unreadable_file", f"{upload.filename}: {exc}") from None
    as_of = import_request.as_of or jobs.store.first_as_of(key.tenant, digest)
    as_of = as_of or format_instant(now_utc())
    request = dataclasses.replace(import_request, as_of=as_of)
    job = Job(job_id, key.tenant, request.kind, request.file_name or path.name, digest, as_of)
    jobs.submit(job, request)
    return job


async def _form(request: Request, limit: int) -> FormData:
    scope = {k: v for k, v in request.scope.items() if k != "app"}  # MultiPartException raw
    limited = Request(scope, _limited(request.receive, limit + FORM_OVERHEAD))
    try:
        return await limited.form(max_files=2, max_fields=len(FIELDS), max_part_size=256 << 10)
    except _TooLarge:
        raise _too_large("the body is larger", limit) from None
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


def _fields(form: FormData) -> tuple[UploadFile, dict[str, str]]:
    unknown = sorted(set(form.keys()) - FIELDS)
    if unknown:
        raise _unprocessable("/" + unknown[0][:40], f"unknown field (known: {', '.join(sorted(FIELDS))})")  # fmt: skip
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _unprocessable("/file", "required: the CSV or Excel file, as a file part")
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in fields:
            raise _unprocessable(f"/{name}", "given twice")
        if name == "mapping" and isinstance(value, UploadFile):
            fields["mapping"] = _mapping_text(value)
            fields["mapping_name"] = value.filename or "mapping"
        elif name != "file":
            if not isinstance(value, str):
                raise _unprocessable(f"/{name}", "expected a text field, not a file")
            fields[name] = value.strip()
    return upload, fields


def _mapping_text(part: UploadFile) -> str:
    data = part.file.read(256 << 10)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unprocessable("/mapping", "the mapping must be UTF-8 TOML or JSON") from None


def _suffix(upload: UploadFile) -> str:
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(415, "unsupported_file_type",
                          f"{(upload.filename or 'the file')[:100]!r}: expected a name ending in "
                          f"{', '.join(SUFFIXES)} (CSV text or an Excel workbook)")  # fmt: skip
    return suffix


def _save(source: BinaryIO, path: Path, limit: int) -> tuple[int, str]:
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


def _request(
    key: ApiKey, path: Path, upload: UploadFile, fields: Mapping[str, str]
) -> ImportRequest:
    kind = fields.get("kind", "")
    if kind not in ("customers", "history"):
        raise _unprocessable("/kind", "required: customers or history")
    mapping = _mapping(fields, cast(Kind, kind), key)
    preset = fields.get("preset") or "auto"
    if preset != "auto" and preset not in presets():
        raise _unprocessable("/preset", f"unknown preset (one of auto, {', '.join(presets())})")
    if kind == "customers":
        _may_publish(key, CUSTOMER_TYPES)
    return ImportRequest(
        path=path,
        kind=cast(Kind, kind),
        tenant=key.tenant,
        source=fields.get("source") or None,
        as_of=_as_of(fields.get("as_of")),
        region=_region(fields.get("region")),
        encoding=_encoding(fields.get("encoding")),
        sheet=fields.get("sheet") or None,
        preset=preset,
        mapping=mapping,
        mapping_name=fields.get("mapping_name", "mapping"),
        file_name=Path(upload.filename or path.name).name[:200],
    )


def _mapping(fields: Mapping[str, str], kind: Kind, key: ApiKey) -> dict[str, Any] | None:
    text = fields.get("mapping")
    if not text:
        if kind == "history":
            raise _unprocessable("/mapping", "required for history: the type, time and columns")
        return None
    name = fields.get("mapping_name", "mapping")
    try:
        is_json = name.lower().endswith(".json") or text.lstrip().startswith("{")
        document = load_text(text, is_json, name)
        if kind == "customers":
            customer_mapping(document, name)
        else:
            _may_publish(key, (history_mapping(document, name, load_catalog()).type,))
    except MappingError as exc:
        raise _unprocessable("/mapping", str(exc)) from None
    return document


def _may_publish(key: ApiKey, types: tuple[str, ...]) -> None:
    refused = [t for t in types if not key.may_publish(t)]
    if refused:
        raise IngestError(403, "forbidden", f"this key may not publish {', '.join(refused)}")


def _as_of(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return parse_instant(text, ZoneInfo("UTC"))
    except DateProblem as exc:
        raise _unprocessable("/as_of", str(exc)) from None


def _region(text: str | None) -> str | None:
    if text and not re.fullmatch(r"[A-Za-z]{2}", text):
        raise _unprocessable("/region", "a two-letter country code, e.g. JP")
    return text.upper() if text else None


def _encoding(text: str | None) -> str | None:
    if not text:
        return None
    try:
        codecs.lookup(text)
    except LookupError:
        raise _unprocessable("/encoding", f"unknown encoding {text[:40]!r}") from None
    return text


def _unprocessable(at: str, message: str) -> IngestError:
    return IngestError(422, "invalid_upload", f"{at[1:]}: {message}",
                       [{"pointer": at, "message": message}])  # fmt: skip
