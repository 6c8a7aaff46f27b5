"""REST data resources under ``/services/data/vXX.X`` (salesforce-api.md 2-6).

Describe, single-record DML, sObject Collections, query paging and limits.

Handlers take a parsed :class:`~.wire.Request` and return a response tuple; the HTTP server does
authentication, API counting, faults and latency around them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import ids, soql
from .describe import describe_global, describe_sobject, sobject_basic_info
from .errors import RecordError, SaveResult
from .schema import ObjectDef
from .store import Org
from .wire import Request, Response, empty, error_response, json_response, not_found

MAX_COLLECTION = 200
MAX_CHUNKS = 10
MAX_OPEN_CURSORS = 10  # per salesforce-api.md 6.3 (eviction details UNVERIFIED)
MIN_VERSION, MAX_VERSION = 31, 66


def api_versions() -> list[dict[str, str]]:
    """The versions list of ``GET /services/data/`` (2.1), oldest first."""
    out = []
    for number in range(MIN_VERSION, MAX_VERSION + 1):
        offset = number - 62  # 62.0 is Winter '25; three releases a year
        year = 25 + offset // 3
        season = ("Winter", "Spring", "Summer")[offset % 3]
        out.append(
            {
                "label": f"{season} '{year:02d}",
                "url": f"/services/data/v{number}.0",
                "version": f"{number}.0",
            }
        )
    return out


def supported_version(version: str) -> bool:
    """Whether ``version`` (``62.0``) is served."""
    major, dot, minor = version.partition(".")
    return (
        bool(dot) and minor == "0" and major.isdigit() and MIN_VERSION <= int(major) <= MAX_VERSION
    )


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    total: int
    version: str


@dataclass
class DataContext:
    """What the data resources need from the emulator."""

    org: Org
    base_url: str
    record_ms: float = 0.0
    api_usage: Callable[[], tuple[int, int]] = lambda: (0, 0)
    bulk: Any = None
    cursors: OrderedDict[str, _Cursor] = field(default_factory=OrderedDict)
    cursor_lock: threading.Lock = field(default_factory=threading.Lock)


def _status_for(error: RecordError) -> int:
    return 404 if error.status_code in {"NOT_FOUND", "ENTITY_IS_DELETED"} else 400


def _dml_error(error: RecordError, req: Request) -> Response:
    return error_response(
        _status_for(error), error.status_code, error.message, req, fields=error.fields
    )


def _parse_json(req: Request) -> tuple[Any, Response | None]:
    try:
        return json.loads(req.body.decode("utf-8") or "null"), None
    except UnicodeDecodeError:
        return None, error_response(400, "JSON_PARSER_ERROR", "Invalid UTF-8 in request body", req)
    except json.JSONDecodeError as exc:
        return None, error_response(
            400,
            "JSON_PARSER_ERROR",
            f"{exc.msg} at [line:{exc.lineno}, column:{exc.colno}]",
            req,
        )


def _request_error(error: RecordError, req: Request) -> Response:
    message = error.message
    if error.status_code == "JSON_PARSER_ERROR":
        value = message.split(" value ", 1)[1].split(" or request", 1)[0]
        text = req.body.decode("utf-8", "replace")
        where = text.find(json.dumps(value))
        if where >= 0:
            line = text.count("\n", 0, where) + 1
            column = where - (text.rfind("\n", 0, where) + 1) + 1
            message += f" at [line:{line}, column:{column}]"
    return error_response(400, error.status_code, message, req)


def _sleep_records(ctx: DataContext, count: int) -> None:
    if ctx.record_ms > 0 and count:
        time.sleep(ctx.record_ms * count / 1000)


def _fault_path(req: Request) -> str:
    return req.path


def handle_data(ctx: DataContext, req: Request, tail: str) -> Response:
    """Route a request below ``/services/data/vXX.X``.

    Args:
        ctx: The emulator's data context.
        req: The request.
        tail: Path after the version segment (``/sobjects/Account``...).

    Returns:
        The response.
    """
    parts = [unquote(p) for p in tail.split("/")[1:]]
    if parts and parts[-1] == "" and parts[0] != "jobs":
        parts = parts[:-1]
    if not parts:
        return _resources(req)
    head, rest = parts[0], parts[1:]
    if head == "sobjects":
        return _sobjects(ctx, req, rest)
    if head == "composite":
        if not rest:
            return _composite(ctx, req)
        if rest[0] == "sobjects":
            return _collections(ctx, req, rest[1:])
        return not_found(req)
    if head in {"query", "queryAll"}:
        return _query(ctx, req, rest, include_deleted=head == "queryAll")
    if head == "limits":
        return _limits(ctx, req, rest)
    if head == "jobs" and rest[:1] == ["ingest"] and ctx.bulk is not None:
        path_tail = tail.split("/jobs/ingest", 1)[1]
        status, headers, body = ctx.bulk.handle(
            req.method, path_tail, req.query, req.body, req.headers, req.version, req.user_id
        )
        return status, dict(headers), body
    return not_found(req)


def _resources(req: Request) -> Response:
    base = f"/services/data/v{req.version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs", "search", "tooling"]
    return json_response(200, {name: f"{base}/{name}" for name in names}, req)


# ------------------------------------------------------------------ sobjects


def _sobjects(ctx: DataContext, req: Request, parts: list[str]) -> Response:
    org = ctx.org
    if not parts:
        if req.method != "GET":
            return _method_not_allowed(req)
        return json_response(200, describe_global(org.schema, req.version), req)
    obj = org.schema.get(parts[0])
    if obj is None:
        return not_found(req)
    if len(parts) == 1:
        if req.method == "GET":
            return json_response(200, sobject_basic_info(obj, req.version), req)
        if req.method == "POST":
            return _create(ctx, req, obj)
        return _method_not_allowed(req)
    segment = parts[1]
    if len(parts) == 2 and segment == "describe":
        if req.method != "GET":
            return _method_not_allowed(req)
        return json_response(200, describe_sobject(org.schema, obj, req.version, ctx.base_url), req)
    if len(parts) == 2 and ids.looks_like_id(segment):
        return _by_id(ctx, req, obj, segment)
    if len(parts) in {2, 3}:
        return _by_external_id(ctx, req, obj, segment, parts[2] if len(parts) == 3 else None)
    return not_found(req)


def _method_not_allowed(req: Request) -> Response:
    # errorCode text UNVERIFIED (salesforce-api.md 2.4).
    return error_response(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed.", req
    )


def _json_object(req: Request) -> tuple[dict[str, Any] | None, Response | None]:
    body, error = _parse_json(req)
    if error is not None:
        return None, error
    if not isinstance(body, dict):
        return None, error_response(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of sObject from a non-object JSON value",
            req,
        )
    return body, None


def _save_single(
    ctx: DataContext,
    req: Request,
    operation: str,
    obj: ObjectDef,
    record: dict[str, Any],
    external_id_field: str | None = None,
) -> SaveResult | Response:
    if operation in {"insert", "update", "upsert"}:
        problem = ctx.org.check_request(obj.name, [record])
        if problem is not None:
            return _request_error(problem, req)
    result = ctx.org.save(
        operation,
        obj.name,
        [record],
        external_id_field=external_id_field,
        fault_path=_fault_path(req),
        fault_method=req.method,
    )[0]
    _sleep_records(ctx, 1)
    if not result.success:
        return _dml_error(result.errors[0], req)
    return result


def _create(ctx: DataContext, req: Request, obj: ObjectDef) -> Response:
    record, error = _json_object(req)
    if error is not None or record is None:
        return error or not_found(req)
    outcome = _save_single(ctx, req, "insert", obj, record)
    if not isinstance(outcome, SaveResult):
        return outcome
    return json_response(201, {"id": outcome.id, "success": True, "errors": []}, req)


def _record_view(
    obj: ObjectDef, row: dict[str, Any], version: str, fields: list[str] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {
            "type": obj.name,
            "url": f"/services/data/v{version}/sobjects/{obj.name}/{row['Id']}",
        }
    }
    if fields is None:
        for f in obj.fields:
            out[f.name] = row.get(f.name)
    else:
        for name in fields:
            wanted = obj.field(name)
            if wanted is not None:
                out[wanted.name] = row.get(wanted.name)
    return out


def _fields_param(req: Request, obj: ObjectDef) -> tuple[list[str] | None, Response | None]:
    raw = req.param("fields")
    if raw is None:
        return None, None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if obj.field(name) is None:
            return None, error_response(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                req,
            )
    return names, None


def _by_id(ctx: DataContext, req: Request, obj: ObjectDef, segment: str) -> Response:
    rid = ids.normalize(segment)
    if rid is None:
        return error_response(
            400,
            "MALFORMED_ID",
            f"{obj.label} ID: id value of incorrect type: {segment}",
            req,
            fields=["Id"],
        )
    found = ctx.org.get(rid)
    if found is None or found[0] != obj.name:
        if ctx.org.is_deleted(rid) and req.method in {"PATCH", "DELETE"}:
            return error_response(404, "ENTITY_IS_DELETED", "entity is deleted", req, fields=[])
        return not_found(req)
    if req.method == "GET":
        fields, error = _fields_param(req, obj)
        if error is not None:
            return error
        return json_response(200, _record_view(obj, found[1], req.version, fields), req)
    if req.method == "PATCH":
        body, error = _json_object(req)
        if error is not None or body is None:
            return error or not_found(req)
        outcome = _save_single(ctx, req, "update", obj, {**body, "Id": rid})
        return outcome if not isinstance(outcome, SaveResult) else empty(204)
    if req.method == "DELETE":
        outcome = _save_single(ctx, req, "delete", obj, {"Id": rid})
        return outcome if not isinstance(outcome, SaveResult) else empty(204)
    return _method_not_allowed(req)


def _by_external_id(
    ctx: DataContext, req: Request, obj: ObjectDef, field_name: str, value: str | None
) -> Response:
    f = obj.field(field_name)
    if f is None or not (f.external_id or f.id_lookup):
        return error_response(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {field_name}",
            req,
        )
    if value is None:
        if f.name == "Id" and req.method == "POST":
            return _create(ctx, req, obj)
        return not_found(req)
    if f.name == "Id":
        matches = [value] if ctx.org.get(value) else []
    else:
        matches = ctx.org.find(obj.name, f.name, value)
    if len(matches) > 1 and req.method in {"GET", "PATCH", "DELETE"}:
        urls = [f"/services/data/v{req.version}/sobjects/{obj.name}/{m}" for m in matches]
        return json_response(300, urls, req)
    if req.method == "GET":
        if not matches:
            return not_found(req)
        found = ctx.org.get(matches[0])
        fields, error = _fields_param(req, obj)
        if found is None or error is not None:
            return error or not_found(req)
        return json_response(200, _record_view(obj, found[1], req.version, fields), req)
    if req.method == "DELETE":
        if not matches:
            return not_found(req)
        outcome = _save_single(ctx, req, "delete", obj, {"Id": matches[0]})
        return outcome if not isinstance(outcome, SaveResult) else empty(204)
    if req.method not in {"PATCH", "POST"}:
        return _method_not_allowed(req)
    body, error = _json_object(req)
    if error is not None or body is None:
        return error or not_found(req)
    if not matches and (req.param("updateOnly") or "").lower() == "true":
        return not_found(req)
    record = {k: v for k, v in body.items() if k.lower() != f.name.lower()}
    record[f.name] = value
    outcome = _save_single(ctx, req, "upsert", obj, record, external_id_field=f.name)
    if not isinstance(outcome, SaveResult):
        return outcome
    legacy = float(req.version) < 46.0  # v45 and older: 204 on update, no "created" (4.4)
    if outcome.created:
        created: dict[str, Any] = {"id": outcome.id, "success": True, "errors": []}
        if not legacy:
            created["created"] = True
        return json_response(201, created, req)
    if legacy:
        return empty(204)
    return json_response(
        200, {"id": outcome.id, "success": True, "errors": [], "created": False}, req
    )


# --------------------------------------------------------------- collections


def _result_json(result: SaveResult, *, upsert: bool) -> dict[str, Any]:
    if not result.success:
        return {"success": False, "errors": [e.as_status() for e in result.errors]}
    out: dict[str, Any] = {"id": result.id, "success": True, "errors": []}
    if upsert:
        out["created"] = bool(result.created)
    return out


def _collection_body(req: Request) -> tuple[list[dict[str, Any]], bool, Response | None]:
    body, error = _parse_json(req)
    if error is not None:
        return [], False, error
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return (
            [],
            False,
            error_response(
                400,
                "JSON_PARSER_ERROR",
                'The request body must hold a "records" array of sObjects',
                req,
            ),
        )
    if len(records) > MAX_COLLECTION:
        # Code and text UNVERIFIED for create/update/upsert (salesforce-api.md 5.6).
        return (
            [],
            False,
            error_response(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                req,
            ),
        )
    return records, bool(body.get("allOrNone", False)), None


def _chunks(records: list[dict[str, Any]]) -> int:
    types = [str((r.get("attributes") or {}).get("type", "")).lower() for r in records]
    return sum(1 for i, t in enumerate(types) if i == 0 or t != types[i - 1])


def _collections(ctx: DataContext, req: Request, parts: list[str]) -> Response:
    if req.method == "DELETE" and not parts:
        return _collection_delete(ctx, req)
    if req.method in {"GET", "POST"} and len(parts) == 1:
        return _collection_retrieve(ctx, req, parts[0])
    upsert = req.method == "PATCH" and len(parts) == 2
    if upsert and float(req.version) < 46.0:
        return not_found(req)
    if parts and not upsert:
        return not_found(req)
    if req.method not in {"POST", "PATCH"}:
        return _method_not_allowed(req)
    records, all_or_none, error = _collection_body(req)
    if error is not None:
        return error
    sobject, external_id_field = "", None
    if upsert:
        obj = ctx.org.schema.get(parts[0])
        if obj is None:
            return error_response(
                400, "INVALID_TYPE", f"sObject type '{parts[0]}' is not supported.", req
            )
        key = obj.field(parts[1])
        if key is None or not (key.external_id or key.id_lookup):
            return error_response(
                400,
                "INVALID_FIELD",
                f"Provided external ID field does not exist or is not accessible: {parts[1]}",
                req,
            )
        for record in records:
            rtype = (record.get("attributes") or {}).get("type")
            if rtype is not None and str(rtype).lower() != obj.name.lower():
                return error_response(
                    400,
                    "INVALID_TYPE",
                    f"The sObject type {rtype} of a record does not match {obj.name} in the URL",
                    req,
                )
        sobject, external_id_field = obj.name, key.name
    elif _chunks(records) > MAX_CHUNKS:
        # Code UNVERIFIED; the 10-chunk rule is documented in 5.1.
        return error_response(
            400,
            "EXCEEDED_MAX_TYPES_LIMIT",
            "Cannot have more than 10 chunks in a single operation. Please rearrange the data to "
            "reduce chunking.",
            req,
        )
    problem = ctx.org.check_request(sobject, records)
    if problem is not None:
        return _request_error(problem, req)
    operation = "upsert" if upsert else ("insert" if req.method == "POST" else "update")
    results = ctx.org.save(
        operation,
        sobject,
        records,
        external_id_field=external_id_field,
        all_or_none=all_or_none,
        fault_path=_fault_path(req),
        fault_method=req.method,
    )
    _sleep_records(ctx, len(records))
    return json_response(200, [_result_json(r, upsert=upsert) for r in results], req)


def _collection_delete(ctx: DataContext, req: Request) -> Response:
    raw = req.param("ids") or ""
    id_list = [i for i in raw.split(",") if i]
    if not id_list:
        return error_response(400, "MISSING_ARGUMENT", "ids parameter is required", req)
    if len(id_list) > MAX_COLLECTION:
        return error_response(
            400, "EXCEEDED_ID_LIMIT", "More than 200 ids were specified in the request", req
        )
    all_or_none = (req.param("allOrNone") or "false").lower() == "true"
    results = ctx.org.save(
        "delete",
        "",
        [{"Id": i} for i in id_list],
        all_or_none=all_or_none,
        fault_path=_fault_path(req),
        fault_method=req.method,
    )
    _sleep_records(ctx, len(id_list))
    return json_response(200, [_result_json(r, upsert=False) for r in results], req)


def _collection_retrieve(ctx: DataContext, req: Request, name: str) -> Response:
    obj = ctx.org.schema.get(name)
    if obj is None:
        return not_found(req)
    if req.method == "POST":
        body, error = _json_object(req)
        if error is not None or body is None:
            return error or not_found(req)
        id_list = [str(i) for i in body.get("ids", [])]
        fields = [str(f) for f in body.get("fields", [])]
    else:
        id_list = [i for i in (req.param("ids") or "").split(",") if i]
        fields = [f for f in (req.param("fields") or "").split(",") if f]
    if not fields:
        return error_response(400, "MISSING_ARGUMENT", "fields parameter is required", req)
    out: list[dict[str, Any] | None] = []
    for rid in id_list:
        found = ctx.org.get(rid)
        out.append(
            _record_view(obj, found[1], req.version, fields)
            if found and found[0] == obj.name
            else None
        )
    return json_response(200, out, req)


# --------------------------------------------------------------------- query


def _query(ctx: DataContext, req: Request, rest: list[str], *, include_deleted: bool) -> Response:
    if req.method != "GET":
        return _method_not_allowed(req)
    if rest:
        return _next_page(ctx, req, rest[0])
    text = req.param("q")
    if text is None:
        return error_response(400, "MALFORMED_QUERY", "A query string has to be specified", req)
    try:
        result = soql.execute(
            text, ctx.org, include_deleted=include_deleted, api_version=req.version
        )
    except soql.SoqlError as exc:
        return error_response(400, exc.error_code, exc.message, req)
    return _page(ctx, req, result.records, result.total_size, 0, locator=None)


def _batch_size(req: Request) -> int:
    options = req.headers.get("Sforce-Query-Options") or ""
    for part in options.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return min(max(int(value), 200), 2000)
    return 2000


def _page(
    ctx: DataContext,
    req: Request,
    records: list[dict[str, Any]],
    total: int,
    offset: int,
    *,
    locator: str | None,
) -> Response:
    size = _batch_size(req)
    chunk = records[offset : offset + size]
    done = offset + size >= len(records)
    body: dict[str, Any] = {"totalSize": total, "done": done}
    with ctx.cursor_lock:
        if done:
            if locator is not None:
                ctx.cursors.pop(locator, None)
        else:
            if locator is None:
                locator = ids.new_id("01g")
                ctx.cursors[locator] = _Cursor(records, total, req.version)
                while len(ctx.cursors) > MAX_OPEN_CURSORS:
                    ctx.cursors.popitem(last=False)
            body["nextRecordsUrl"] = (
                f"/services/data/v{req.version}/query/{locator}-{offset + size}"
            )
    body["records"] = chunk
    return json_response(200, body, req)


def _next_page(ctx: DataContext, req: Request, token: str) -> Response:
    locator, _, offset_text = token.rpartition("-")
    with ctx.cursor_lock:
        cursor = ctx.cursors.get(locator)
    if cursor is None or not offset_text.isdigit():
        return error_response(400, "INVALID_QUERY_LOCATOR", "invalid query locator", req)
    return _page(ctx, req, cursor.records, cursor.total, int(offset_text), locator=locator)


# -------------------------------------------------------------------- limits


def _limits(ctx: DataContext, req: Request, rest: list[str]) -> Response:
    if req.method != "GET":
        return _method_not_allowed(req)
    if rest == ["recordCount"]:
        names = [n for n in (req.param("sObjects") or "").split(",") if n]
        objects = [ctx.org.schema.get(n) for n in names] if names else ctx.org.schema.objects
        counts = [{"count": ctx.org.count(o.name), "name": o.name} for o in objects if o]
        return json_response(200, {"sObjects": counts}, req)
    if rest:
        return not_found(req)
    used, limit = ctx.api_usage()
    jobs = ctx.bulk.job_count() if ctx.bulk is not None and hasattr(ctx.bulk, "job_count") else 0
    body = {
        "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": max(15000 - jobs, 0)},
        "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        "FileStorageMB": {"Max": 1024, "Remaining": 1024},
        "SingleEmail": {"Max": 15, "Remaining": 15},
    }
    return json_response(200, body, req)


def _composite(ctx: DataContext, req: Request) -> Response:
    # Imported here: composite dispatches its subrequests back through handle_data.
    from .composite import handle_composite  # noqa: PLC0415

    return handle_composite(ctx, req)
