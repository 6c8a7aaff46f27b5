"""REST API basics: the versions list, a version's resources, org limits and record counts.

REST API Developer Guide, "Versions", "Resources by Version", "Limits" and "Record Count".
"""

from __future__ import annotations

from ..versions import api_versions
from ..wire import Request, Response, json_response

DAILY_BULK_BATCHES = 15000
DAILY_QUERY_JOBS = 10000
RESOURCES = ("sobjects", "query", "queryAll", "limits", "composite", "jobs", "search", "tooling")


def versions(req: Request) -> Response:
    """``GET /services/data/``: every version served (no token needed, not counted)."""
    return json_response(200, api_versions())


def resources(req: Request) -> Response:
    """``GET /services/data/vXX.X``: the resources of a version."""
    base = f"/services/data/v{req.version}"
    return json_response(200, {name: f"{base}/{name}" for name in RESOURCES}, req)


def limits(req: Request) -> Response:
    """``GET /limits``: the org's allocations and what remains of them."""
    used, limit = req.backend.usage.usage()
    jobs = req.backend.bulk.job_count()
    body = {
        "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DailyBulkApiBatches": {
            "Max": DAILY_BULK_BATCHES,
            "Remaining": max(DAILY_BULK_BATCHES - jobs, 0),
        },
        "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
        "DailyBulkV2QueryJobs": {
            "Max": DAILY_QUERY_JOBS,
            "Remaining": max(DAILY_QUERY_JOBS - req.backend.queries.created, 0),
        },
        "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        "FileStorageMB": {"Max": 1024, "Remaining": 1024},
        "SingleEmail": {"Max": 15, "Remaining": 15},
    }
    return json_response(200, body, req)


def record_count(req: Request) -> Response:
    """``GET /limits/recordCount?sObjects=A,B``: live records per object."""
    org = req.backend.org
    names = [n for n in (req.param("sObjects") or "").split(",") if n]
    objects = [org.schema.get(n) for n in names] if names else org.schema.objects
    counts = [{"count": org.count(o.name), "name": o.name} for o in objects if o]
    return json_response(200, {"sObjects": counts}, req)
