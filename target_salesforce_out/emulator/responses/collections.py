"""sObject Collections: create, update, upsert, delete and retrieve up to 200 records per call.

REST API Developer Guide, "sObject Collections" and its pages "Create Records Using sObject
Collections" (and Update, Upsert, Delete, Get).
"""

from __future__ import annotations

from typing import Any

from ..errors import SaveResult
from ..wire import ErrorResponse, Request, Response, error_response, json_response
from ..wire import not_found as not_found_response
from .common import (
    allow_save,
    assignment,
    json_object,
    parse_json,
    record_faults,
    request_error,
    sleep_records,
    sobject,
)
from .sobjects import FIRST_VERSION_WITH_CREATED, record_view

MAX_COLLECTION = 200
MAX_CHUNKS = 10


def create(req: Request) -> Response:
    """``POST /composite/sobjects``: insert records of one or more types."""
    records, all_or_none = _collection_body(req)
    _check_chunks(req, records)
    return _save(req, "insert", "", None, records, all_or_none)


def update(req: Request) -> Response:
    """``PATCH /composite/sobjects``: update records by Id."""
    records, all_or_none = _collection_body(req)
    _check_chunks(req, records)
    return _save(req, "update", "", None, records, all_or_none)


def upsert(req: Request) -> Response:
    """``PATCH /composite/sobjects/{sobject}/{field}`` (v46.0+): upsert by an external id."""
    if float(req.version) < FIRST_VERSION_WITH_CREATED:
        return not_found_response(req)
    records, all_or_none = _collection_body(req)
    org = req.backend.org
    name, key_name = req.params["sobject"], req.params["field"]
    obj = org.schema.get(name)
    if obj is None:
        return error_response(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.", req)
    key = obj.field(key_name)
    if key is None or not (key.external_id or key.id_lookup):
        return error_response(
            400,
            "INVALID_FIELD",
            f"Provided external ID field does not exist or is not accessible: {key_name}",
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
    return _save(req, "upsert", obj.name, key.name, records, all_or_none)


def delete(req: Request) -> Response:
    """``DELETE /composite/sobjects?ids=A,B&allOrNone=false``."""
    raw = req.param("ids") or ""
    id_list = [i for i in raw.split(",") if i]
    if not id_list:
        return error_response(400, "MISSING_ARGUMENT", "ids parameter is required", req)
    if len(id_list) > MAX_COLLECTION:
        return error_response(
            400, "EXCEEDED_ID_LIMIT", "More than 200 ids were specified in the request", req
        )
    all_or_none = (req.param("allOrNone") or "false").lower() == "true"
    results = req.backend.org.save(
        "delete",
        "",
        [{"Id": i} for i in id_list],
        all_or_none=all_or_none,
        record_fault=record_faults(req),
    )
    sleep_records(req, len(id_list))
    return json_response(200, [_result_json(r, upsert=False) for r in results], req)


def retrieve(req: Request) -> Response:
    """``GET ?ids=&fields=`` or ``POST {"ids", "fields"}`` on ``/composite/sobjects/{sobject}``."""
    obj = sobject(req, req.params["sobject"])
    if req.method == "POST":
        body = json_object(req)
        id_list = [str(i) for i in body.get("ids", [])]
        fields = [str(f) for f in body.get("fields", [])]
    else:
        id_list = [i for i in (req.param("ids") or "").split(",") if i]
        fields = [f for f in (req.param("fields") or "").split(",") if f]
    if not fields:
        return error_response(400, "MISSING_ARGUMENT", "fields parameter is required", req)
    org = req.backend.org
    out: list[dict[str, Any] | None] = []
    for rid in id_list:
        found = org.get(rid)
        out.append(
            record_view(obj, found[1], req.version, fields)
            if found and found[0] == obj.name
            else None
        )
    return json_response(200, out, req)


def _collection_body(req: Request) -> tuple[list[dict[str, Any]], bool]:
    """``records`` and ``allOrNone`` of the body, or a 400 answer."""
    body = parse_json(req)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ErrorResponse(
            error_response(
                400,
                "JSON_PARSER_ERROR",
                'The request body must hold a "records" array of sObjects',
                req,
            )
        )
    if len(records) > MAX_COLLECTION:
        # The limit is documented; code and text for create/update/upsert are not documented
        # by Salesforce (the emulator's choice, after the delete resource's code).
        raise ErrorResponse(
            error_response(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                req,
            )
        )
    assert isinstance(body, dict)
    return records, bool(body.get("allOrNone", False))


def _check_chunks(req: Request, records: list[dict[str, Any]]) -> None:
    """At most 10 runs of one type ("chunks") per call, else a 400 answer.

    REST API Developer Guide, "Create Records Using sObject Collections".
    """
    types = [str((r.get("attributes") or {}).get("type", "")).lower() for r in records]
    chunks = sum(1 for i, t in enumerate(types) if i == 0 or t != types[i - 1])
    if chunks > MAX_CHUNKS:
        # The 10-chunk rule is documented; the errorCode is not (the emulator's choice).
        raise ErrorResponse(
            error_response(
                400,
                "EXCEEDED_MAX_TYPES_LIMIT",
                "Cannot have more than 10 chunks in a single operation. Please rearrange the "
                "data to reduce chunking.",
                req,
            )
        )


def _save(
    req: Request,
    operation: str,
    sobject_name: str,
    external_id_field: str | None,
    records: list[dict[str, Any]],
    all_or_none: bool,
) -> Response:
    org = req.backend.org
    problem = org.check_request(sobject_name, records)
    if problem is not None:
        return request_error(problem, req)
    # One transaction: the parents it locks stay locked while it runs (row_locks.py).
    with req.backend.locks.transaction() as parent_lock:
        results = org.save(
            operation,
            sobject_name,
            records,
            external_id_field=external_id_field,
            all_or_none=all_or_none,
            record_fault=record_faults(req),
            assignment=assignment(req),
            allow_save=allow_save(req),
            api_version=req.version,
            parent_lock=parent_lock,
        )
        sleep_records(req, len(records))
    upsert = operation == "upsert"
    return json_response(200, [_result_json(r, upsert=upsert) for r in results], req)


def _result_json(result: SaveResult, *, upsert: bool) -> dict[str, Any]:
    if not result.success:
        return {"success": False, "errors": [e.as_status() for e in result.errors]}
    out: dict[str, Any] = {"id": result.id, "success": True, "errors": []}
    if upsert:
        out["created"] = bool(result.created)
    return out
