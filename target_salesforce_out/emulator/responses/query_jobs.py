"""Bulk API 2.0 query jobs over HTTP: ``/jobs/query`` requests in, the engine's answers out.

Bulk API 2.0 and Bulk API Developer Guide: "Create a Query Job", "Get Information About a Query
Job", "Get Information About All Query Jobs", "Get Results for a Query Job", "Abort a Query Job"
and "Delete a Query Job". The jobs live in bulk_queries.py. Error arrays put ``errorCode`` before
``message``, as the ingest resources do.
"""

from __future__ import annotations

from ..bulk_queries import QueryJob, QueryJobError
from ..wire import ErrorResponse, Request, Response, empty
from .bulk import error_answer, json_answer, json_body, not_allowed, not_found

PAGE_SIZE = 1000


def create_job(req: Request) -> Response:
    """``POST /jobs/query``: create a job (already ``UploadComplete``)."""
    spec = json_body(req)
    if not isinstance(spec, dict):
        return error_answer(req, 400, "JSON_PARSER_ERROR", "Expected a JSON object")
    try:
        created = req.backend.queries.create(spec, req.version, req.user_id)
    except QueryJobError as exc:
        return _refused(req, exc)
    return json_answer(req, 200, created)


def list_jobs(req: Request) -> Response:
    """``GET /jobs/query``: one page of jobs, 1,000 per page, ``queryLocator`` for the next."""
    locator = req.param("queryLocator") or "0"
    start = int(locator) if locator.isdigit() else 0
    records, total = req.backend.queries.list_jobs(
        job_type=req.param("jobType") or "", start=start, size=PAGE_SIZE
    )
    done = start + PAGE_SIZE >= total
    next_url = (
        None
        if done
        else f"/services/data/v{req.version}/jobs/query?queryLocator={start + PAGE_SIZE}"
    )
    return json_answer(req, 200, {"done": done, "records": records, "nextRecordsUrl": next_url})


def job_info(req: Request) -> Response:
    """``GET /jobs/query/{job_id}``: state and counters."""
    return json_answer(req, 200, req.backend.queries.info(_job(req)))


def change_state(req: Request) -> Response:
    """``PATCH /jobs/query/{job_id}`` with ``{"state": "Aborted"}``, the only change allowed."""
    job = _job(req)
    spec = json_body(req)
    wanted = spec.get("state") if isinstance(spec, dict) else None
    if wanted != "Aborted":
        shown = "null" if wanted is None else str(wanted)
        return error_answer(
            req, 400, "API_ERROR", f"Invalid value: '{shown}' supplied for property: 'state'"
        )
    try:
        return json_answer(req, 200, req.backend.queries.abort(job))
    except QueryJobError as exc:
        return _refused(req, exc)


def delete_job(req: Request) -> Response:
    """``DELETE /jobs/query/{job_id}``: 204 once deleted."""
    job = _job(req)
    try:
        req.backend.queries.delete(job)
    except QueryJobError as exc:
        return _refused(req, exc)
    return empty(204)


def results(req: Request) -> Response:
    """``GET /jobs/query/{job_id}/results[?locator=&maxRecords=]``: one set of CSV results."""
    job = _job(req)
    try:
        data, locator, count = req.backend.queries.results(
            job,
            locator=req.param("locator"),
            max_records=req.param("maxRecords"),
            api_version=req.version,
        )
    except QueryJobError as exc:
        return _refused(req, exc)
    headers = {
        "Content-Type": "text/csv",
        "Sforce-Locator": locator,
        "Sforce-NumberOfRecords": str(count),
    }
    return Response(200, headers, data)


def not_allowed_on_job(req: Request, *, allowed: str) -> Response:
    """405 on a job's resources, after the job is known to exist (else 404)."""
    _job(req)
    return not_allowed(req, allowed=allowed)


def _job(req: Request) -> QueryJob:
    job = req.backend.queries.get(req.params["job_id"])
    if job is None:
        raise ErrorResponse(not_found(req))
    return job


def _refused(req: Request, exc: QueryJobError) -> Response:
    return error_answer(req, exc.status, exc.code, exc.message)
