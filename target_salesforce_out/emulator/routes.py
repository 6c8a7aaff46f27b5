"""The route table: every endpoint of the emulator as (method(s), path pattern, handler).

To add an endpoint, write ``def handler(req: Request) -> Response`` in the responses module of
its API and add one line to the table of its area below. Entries are tried in order: put a
specific method before a catch-all ``ANY`` entry of the same path (those answer 405, or 404
when what the path names does not exist).

Three areas, each matched against its own form of the path:

* ``API_ROUTES``: the REST API under ``/services/data/vXX.X``, matched against the rest of the
  path with each segment percent-decoded and one trailing slash dropped (``/sobjects/Account``).
  app.py authenticates and counts these calls before routing, so an unknown path there is still
  an API call answered with 404.
* ``ROOT_ROUTES``: OAuth, the identity URL and the versions list, matched against the raw path.
* ``INSPECTION_ROUTES``: ``/__emulator/...``, matched against the path after the prefix without
  its surrounding slashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum
from functools import partial
from urllib.parse import quote, unquote

from .responses import (
    bulk,
    collections,
    composite,
    inspection,
    oauth,
    query,
    query_jobs,
    replication,
    rest,
    search,
    soap_login,
    sobjects,
)
from .responses.common import method_not_allowed, not_found, plain_not_found
from .routing import ANY, Handler, call, find, route
from .wire import Request, Response

INSPECTION_PREFIX = "/__emulator"
API_PATH = re.compile(r"/services/data/v(?P<version>[^/]*)(?P<tail>/.*)?")

_OBJECT = r"(?P<sobject>[^/]*)"
_RECORD_ID = r"(?P<record_id>[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?)"
_FIELD = r"(?P<field>[^/]*)"
_VALUE = r"(?P<value>[^/]*)"
_QUERY = r"/(?:query|queryAll)"
# Bulk paths tolerate empty segments (``/jobs/ingest//{id}/``).
_JOBS = r"/jobs/ingest/*"
_JOB = r"/jobs/ingest/+(?P<job_id>[^/]+)/*"
_BATCHES = r"/jobs/ingest/+(?P<job_id>[^/]+)/+batches/*"
# The docs spell ``unprocessedrecords``; simple-salesforce asks for ``unprocessedRecords``.
_RESULT_KIND = r"(?P<kind>successfulResults|failedResults|unprocessed[rR]ecords)"
_RESULTS = rf"/jobs/ingest/+(?P<job_id>[^/]+)/+{_RESULT_KIND}/*"
_QUERY_JOBS = r"/jobs/query/*"
_QUERY_JOB = r"/jobs/query/+(?P<job_id>[^/]+)/*"
_QUERY_RESULTS = r"/jobs/query/+(?P<job_id>[^/]+)/+results/*"


def dispatch_api(req: Request) -> Response:
    """Answer a request under ``/services/data/vXX.X`` through ``API_ROUTES``.

    No authentication or counting here: app.py does that for top-level calls, and composite
    subrequests ride on their parent's.

    Args:
        req: The request; its path must start with ``/services/data/v``.

    Returns:
        The response.
    """
    found = API_PATH.fullmatch(req.path)
    tail = (found.group("tail") or "") if found is not None else req.path
    resolved = _resolve_api(req.method, tail)
    return call(resolved.handler, replace(req, params=resolved.params))


API_ROUTES = (
    route(ANY, r"", rest.resources),
    # Describe and single records ("sObject Basic Information", "sObject Rows", ...)
    route("GET", r"/sobjects", sobjects.describe_global),
    route(ANY, r"/sobjects", method_not_allowed),
    route("GET", rf"/sobjects/{_OBJECT}", sobjects.basic_info),
    route("POST", rf"/sobjects/{_OBJECT}", sobjects.create),
    route(ANY, rf"/sobjects/{_OBJECT}", sobjects.not_allowed),
    route("GET", rf"/sobjects/{_OBJECT}/describe", sobjects.describe),
    route(ANY, rf"/sobjects/{_OBJECT}/describe", sobjects.not_allowed),
    # Data replication ("sObject Get Updated", "sObject Get Deleted")
    route("GET", rf"/sobjects/{_OBJECT}/updated", replication.updated),
    route("GET", rf"/sobjects/{_OBJECT}/deleted", replication.deleted),
    route("GET", rf"/sobjects/{_OBJECT}/{_RECORD_ID}", sobjects.retrieve),
    route("PATCH", rf"/sobjects/{_OBJECT}/{_RECORD_ID}", sobjects.update),
    route("DELETE", rf"/sobjects/{_OBJECT}/{_RECORD_ID}", sobjects.delete),
    route(ANY, rf"/sobjects/{_OBJECT}/{_RECORD_ID}", sobjects.not_allowed_on_record),
    route(ANY, rf"/sobjects/{_OBJECT}/{_FIELD}", sobjects.by_field),
    route("GET", rf"/sobjects/{_OBJECT}/{_FIELD}/{_VALUE}", sobjects.retrieve_by_external_id),
    route("PATCH,POST", rf"/sobjects/{_OBJECT}/{_FIELD}/{_VALUE}", sobjects.upsert),
    route("DELETE", rf"/sobjects/{_OBJECT}/{_FIELD}/{_VALUE}", sobjects.delete_by_external_id),
    route(ANY, rf"/sobjects/{_OBJECT}/{_FIELD}/{_VALUE}", sobjects.not_allowed_by_external_id),
    # Composite and sObject Collections
    route("POST", r"/composite", partial(composite.composite, dispatch=dispatch_api)),
    route(ANY, r"/composite", method_not_allowed),
    route("POST", r"/composite/sobjects", collections.create),
    route("PATCH", r"/composite/sobjects", collections.update),
    route("DELETE", r"/composite/sobjects", collections.delete),
    route(ANY, r"/composite/sobjects", method_not_allowed),
    route("GET,POST", rf"/composite/sobjects/{_OBJECT}", collections.retrieve),
    route("PATCH", rf"/composite/sobjects/{_OBJECT}/{_FIELD}", collections.upsert),
    # SOQL
    route("GET", r"/query", query.query),
    route("GET", r"/queryAll", query.query_all),
    route("GET", rf"{_QUERY}/(?P<locator>[^/]*)(?:/.*)?", query.next_page),
    route(ANY, rf"{_QUERY}(?:/.*)?", method_not_allowed),
    # SOSL ("Search")
    route("GET", r"/search", search.search),
    route(ANY, r"/search", method_not_allowed),
    # Limits
    route("GET", r"/limits", rest.limits),
    route("GET", r"/limits/recordCount", rest.record_count),
    route("GET", r"/limits/.*", not_found),
    route(ANY, r"/limits(?:/.*)?", method_not_allowed),
    # Bulk API 2.0 ingest
    route("POST", _JOBS, bulk.create_job),
    route("GET", _JOBS, bulk.list_jobs),
    route(ANY, _JOBS, partial(bulk.not_allowed, allowed="GET,POST")),
    route("GET", _JOB, bulk.job_info),
    route("PATCH", _JOB, bulk.change_state),
    route("DELETE", _JOB, bulk.delete_job),
    route(ANY, _JOB, partial(bulk.not_allowed_on_job, allowed="GET,PATCH,DELETE")),
    route("PUT", _BATCHES, bulk.upload),
    route(ANY, _BATCHES, partial(bulk.not_allowed_on_job, allowed="PUT")),
    route("GET", _RESULTS, bulk.results),
    route(ANY, _RESULTS, partial(bulk.not_allowed_on_job, allowed="GET")),
    route(ANY, r"/jobs/ingest/.*", bulk.not_found),
    # Bulk API 2.0 query
    route("POST", _QUERY_JOBS, query_jobs.create_job),
    route("GET", _QUERY_JOBS, query_jobs.list_jobs),
    route(ANY, _QUERY_JOBS, partial(bulk.not_allowed, allowed="GET,POST")),
    route("GET", _QUERY_JOB, query_jobs.job_info),
    route("PATCH", _QUERY_JOB, query_jobs.change_state),
    route("DELETE", _QUERY_JOB, query_jobs.delete_job),
    route(ANY, _QUERY_JOB, partial(query_jobs.not_allowed_on_job, allowed="GET,PATCH,DELETE")),
    route("GET", _QUERY_RESULTS, query_jobs.results),
    route(ANY, _QUERY_RESULTS, partial(query_jobs.not_allowed_on_job, allowed="GET")),
    route(ANY, r"/jobs/query/.*", bulk.not_found),
)

ROOT_ROUTES = (
    route("POST", r"/services/oauth2/token", oauth.token),
    route("GET,POST", r"/services/oauth2/revoke", oauth.revoke),
    route(ANY, r"/id/.*", oauth.identity),
    route("POST", r"/services/Soap/u/(?P<version>\d+\.\d+)/*", soap_login.login),
    route(ANY, r"/services/data/*", rest.versions),
)

INSPECTION_ROUTES = (
    route("GET", r"records/(?P<sobject>.+)", inspection.records),
    route("GET", r"requests", inspection.requests),
    route("POST", r"reset", inspection.reset),
    route("GET", r"ca\.pem", inspection.ca_pem),
)


class Area(Enum):
    """Which part of the emulator a path belongs to (each gets different treatment in app.py)."""

    INSPECTION = "inspection"
    ROOT = "root"
    API = "api"


@dataclass(frozen=True)
class Resolved:
    """Where a request goes.

    Attributes:
        area: The path's area.
        handler: The handler that answers (a 404 handler when no entry matches).
        params: Path parameters.
        version: API version from the path (REST API only).
    """

    area: Area
    handler: Handler
    params: dict[str, str]
    version: str = ""


def resolve(method: str, path: str) -> Resolved:
    """Find the handler for a method and a path (no query string).

    Args:
        method: HTTP method.
        path: URL path as sent.

    Returns:
        The area, handler and path parameters.
    """
    if path == INSPECTION_PREFIX or path.startswith(INSPECTION_PREFIX + "/"):
        tail = path[len(INSPECTION_PREFIX) :].strip("/")
        match = find(INSPECTION_ROUTES, method, tail)
        if match is None:
            return Resolved(Area.INSPECTION, plain_not_found, {})
        return Resolved(Area.INSPECTION, match.handler, match.params)
    api = API_PATH.fullmatch(path)
    if api is not None:
        found = _resolve_api(method, api.group("tail") or "")
        return Resolved(Area.API, found.handler, found.params, api.group("version"))
    match = find(ROOT_ROUTES, method, path)
    if match is None:
        return Resolved(Area.ROOT, plain_not_found, {})
    return Resolved(Area.ROOT, match.handler, match.params)


def _resolve_api(method: str, tail: str) -> Resolved:
    match = find(API_ROUTES, method, _canonical(tail))
    if match is None:
        return Resolved(Area.API, not_found, {})
    params = {k: unquote(v) for k, v in match.params.items()}
    return Resolved(Area.API, match.handler, params)


def _canonical(tail: str) -> str:
    """The form API patterns match: segments decoded, one trailing slash dropped.

    A decoded segment holding ``%`` or ``/`` stays encoded so that it remains one segment; the
    router decodes the parameters it captures. ``/sobjects/Acc%6Funt/`` becomes
    ``/sobjects/Account``.
    """
    parts = [unquote(p) for p in tail.split("/")[1:]]
    if parts and parts[-1] == "":
        parts = parts[:-1]
    return "".join("/" + quote(p, safe="") if "%" in p or "/" in p else "/" + p for p in parts)
