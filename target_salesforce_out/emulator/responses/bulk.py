"""Bulk API 2.0 ingest over HTTP: ``/jobs/ingest`` requests in, the job engine's answers out.

Bulk API 2.0 Developer Guide: "Create a Job", "Upload Job Data", "Close or Abort a Job", "Get Job
Info", "Get Information About All Ingest Jobs", "Delete a Job" and the three "Get Job ... Record
Results" pages. The jobs themselves live in bulk_jobs.py. Bulk error arrays put ``errorCode``
before ``message``, unlike the other REST resources.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import Any

from ..bulk_jobs import BulkJobError, Job, JobFaults
from ..wire import JSON_TYPE, ErrorResponse, Request, Response, empty, render

PAGE_SIZE = 1000
_CSV = {"Content-Type": "text/csv"}
_NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def create_job(req: Request) -> Response:
    """``POST /jobs/ingest``: create an ``Open`` job."""
    spec = json_body(req)
    if not isinstance(spec, dict):
        return error_answer(req, 400, "JSON_PARSER_ERROR", "Expected a JSON object")
    try:
        created = req.backend.bulk.create(spec, req.version, req.user_id)
    except BulkJobError as exc:
        return _refused(req, exc)
    return json_answer(req, 200, created)


def list_jobs(req: Request) -> Response:
    """``GET /jobs/ingest``: one page of jobs, 1,000 per page, ``queryLocator`` for the next."""
    locator = req.param("queryLocator") or "0"
    start = int(locator) if locator.isdigit() else 0
    records, total = req.backend.bulk.list_jobs(
        job_type=req.param("jobType") or "",
        concurrency_mode=req.param("concurrencyMode") or "",
        pk_chunking=req.param("isPkChunkingEnabled") or "",
        start=start,
        size=PAGE_SIZE,
    )
    done = start + PAGE_SIZE >= total
    next_url = (
        None
        if done
        else f"/services/data/v{req.version}/jobs/ingest?queryLocator={start + PAGE_SIZE}"
    )
    return json_answer(req, 200, {"done": done, "records": records, "nextRecordsUrl": next_url})


def job_info(req: Request) -> Response:
    """``GET /jobs/ingest/{job_id}``: state and counters."""
    job = _job(req)
    return json_answer(req, 200, req.backend.bulk.info(job))


def change_state(req: Request) -> Response:
    """``PATCH /jobs/ingest/{job_id}`` with ``{"state": "UploadComplete" | "Aborted"}``."""
    job = _job(req)
    spec = json_body(req)
    wanted = spec.get("state") if isinstance(spec, dict) else None
    engine = req.backend.bulk
    try:
        if wanted == "UploadComplete":
            return json_answer(req, 200, engine.close(job, _job_faults(req, job)))
        if wanted == "Aborted":
            return json_answer(req, 200, engine.abort(job))
        shown = "null" if wanted is None else str(wanted)
        return error_answer(
            req, 400, "API_ERROR", f"Invalid value: '{shown}' supplied for property: 'state'"
        )
    except BulkJobError as exc:
        return _refused(req, exc)


def delete_job(req: Request) -> Response:
    """``DELETE /jobs/ingest/{job_id}``: 204 once deleted."""
    job = _job(req)
    try:
        req.backend.bulk.delete(job)
    except BulkJobError as exc:
        return _refused(req, exc)
    return empty(204)


def upload(req: Request) -> Response:
    """``PUT /jobs/ingest/{job_id}/batches``: the job's CSV (gzip accepted); 201, empty body."""
    job = _job(req)
    body = req.body
    # The HTTP server may already have inflated the body; only inflate what is still gzip.
    gzipped = (_header(req.headers, "Content-Encoding") or "").lower() == "gzip"
    if gzipped and body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return error_answer(req, 400, "BULK_API_ERROR", "Unable to decompress gzip content")
    try:
        req.backend.bulk.upload(job, body)
    except BulkJobError as exc:
        return _refused(req, exc)
    return empty(201, {"Content-Type": "text/plain"})


def results(req: Request) -> Response:
    """``GET /jobs/ingest/{job_id}/{kind}``: one of the three result CSV files.

    Bulk API 2.0 Developer Guide, "Get Job Unprocessed Record Results", spells the path
    ``unprocessedrecords``; clients such as simple-salesforce ask for ``unprocessedRecords``.
    Both answer: whether Salesforce matches that segment case-insensitively is not documented by
    Salesforce (the emulator's choice).
    """
    job = _job(req)
    kind = req.params["kind"]
    if kind == "unprocessedRecords":
        kind = "unprocessedrecords"
    try:
        data = req.backend.bulk.results(job, kind)
    except BulkJobError as exc:
        return _refused(req, exc)
    return Response(200, dict(_CSV), data)


def not_found(req: Request) -> Response:
    """404 for any other path under ``/jobs/ingest/`` or ``/jobs/query/`` (Bulk error layout)."""
    return json_answer(req, 404, _NOT_FOUND)


def not_allowed(req: Request, *, allowed: str) -> Response:
    """405 naming the allowed methods (ingest and query jobs; the text is the emulator's choice)."""
    return error_answer(
        req,
        405,
        "METHOD_NOT_ALLOWED",
        f"HTTP Method '{req.method}' not allowed. Allowed are {allowed}",
    )


def not_allowed_on_job(req: Request, *, allowed: str) -> Response:
    """405 on a job's resources, after the job is known to exist (else 404)."""
    _job(req)
    return not_allowed(req, allowed=allowed)


# ---------------------------------------------------------------------------- helpers


def _job(req: Request) -> Job:
    """The job the path names, or a 404 answer."""
    job = req.backend.bulk.get(req.params["job_id"])
    if job is None:
        raise ErrorResponse(not_found(req))
    return job


def _job_faults(req: Request, job: Job) -> JobFaults:
    """What the fault plan injects into a job.

    Bulk rules match like record-level rules: against ``PUT`` and the job's upload path.
    """
    upload_path = f"/services/data/v{job.api_version}/jobs/ingest/{job.id}/batches"
    backend = req.backend
    failure = backend.faults.job_failure("PUT", upload_path)
    return JobFaults(
        fail_after=failure[0] if failure is not None else None,
        fail_message=failure[1] if failure is not None else None,
        echo_as_parsed=backend.faults.echo_as_parsed("PUT", upload_path),
        record_fault=backend.record_faults("PUT", upload_path),
    )


def json_body(req: Request) -> Any:
    """The request body as JSON, or a 400 ``JSON_PARSER_ERROR`` answer."""
    try:
        return json.loads(req.body or b"null")
    except ValueError as exc:
        raise ErrorResponse(
            error_answer(req, 400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}")
        ) from None


def _pretty(req: Request) -> bool:
    return _header(req.headers, "X-PrettyPrint") == "1"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def json_answer(req: Request, status: int, body: Any) -> Response:
    """``body`` as JSON with Salesforce's content type (pretty when the client asks)."""
    return Response(status, {"Content-Type": JSON_TYPE}, render(body, pretty=_pretty(req)))


def error_answer(req: Request, status: int, code: str, message: str) -> Response:
    """An error in the Bulk API 2.0 layout: ``[{"errorCode", "message"}]``."""
    return json_answer(req, status, [{"errorCode": code, "message": message}])


def _refused(req: Request, exc: BulkJobError) -> Response:
    """The engine's refusal: 409 for a job in the wrong state, else 400."""
    status = 409 if exc.code == "INVALIDJOBSTATE" else 400
    return error_answer(req, status, exc.code, exc.message)
