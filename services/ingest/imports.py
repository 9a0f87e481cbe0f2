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
import dataclasses
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response

from events.timestamps import format_instant, now_utc
from services.auth.keys import ApiKey, KeyStore
from services.imports.errors import ImportFileError
from services.imports.job_runner import Busy, ImportJobs
from services.imports.jobs import Job
from services.imports.sniffing import sniff
from services.ingest.errors import IngestError, json_response
from services.ingest.http import authenticate
from services.ingest.openapi import IMPORTS_REQUEST, IMPORTS_RESPONSES
from services.ingest.upload_fields import import_request
from services.ingest.upload_form import (
    FORM_OVERHEAD,
    file_suffix,
    form_fields,
    read_form,
    save_upload,
    too_large,
)
from services.platform.settings import Settings

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_RETRY_AFTER_S = 30


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
        raise too_large(f"the body is {declared} bytes", limit)
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise IngestError(415, "unsupported_media_type", "send multipart/form-data with the "
                          f"file in a part named 'file' (got {kind[:80] or 'no content type'!r})")  # fmt: skip


async def _accept(request: Request, key: ApiKey, jobs: ImportJobs, limit: int) -> Job:
    form = await read_form(request, limit)
    try:
        upload, fields = form_fields(form)
        job_id = uuid.uuid4().hex
        path = jobs.job_dir(job_id) / f"upload{file_suffix(upload)}"
        size, digest = await asyncio.to_thread(save_upload, upload.file, path, limit)
    finally:
        await form.close()
    try:
        if size > limit:
            raise too_large(f"the file is larger than {limit} bytes", limit)
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
    asked = import_request(key, path, upload, fields)
    try:
        await asyncio.to_thread(sniff, path, path.suffix, asked.sheet)
    except ImportFileError as exc:
        raise IngestError(422, "unreadable_file", f"{upload.filename}: {exc}") from None
    as_of = asked.as_of or jobs.store.first_as_of(key.tenant, digest)
    as_of = as_of or format_instant(now_utc())
    request = dataclasses.replace(asked, as_of=as_of)
    job = Job(job_id, key.tenant, request.kind, request.file_name or path.name, digest, as_of)
    jobs.submit(job, request)
    return job
