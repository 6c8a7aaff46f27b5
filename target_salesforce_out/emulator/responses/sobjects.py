"""sObject resources: describe, and single-record create, retrieve, update, upsert and delete.

REST API Developer Guide: "Describe Global", "sObject Basic Information", "sObject Describe",
"sObject Rows" (retrieve, update, delete by Id), "Create a Record" and "sObject Rows by External
ID" (retrieve, upsert, delete by an external id field).
"""

from __future__ import annotations

from typing import Any

from .. import ids
from ..definitions import FieldDef, ObjectDef
from ..describe import describe_global as describe_global_body
from ..describe import describe_sobject, sobject_basic_info
from ..errors import SaveResult
from ..wire import ErrorResponse, Request, Response, empty, error_response, json_response
from ..wire import not_found as not_found_response
from .common import (
    allow_save,
    assignment,
    dml_error,
    json_object,
    method_not_allowed,
    record_faults,
    request_error,
    sleep_records,
    sobject,
)

# Before v46.0 an upsert that updates answers 204 and results carry no "created" ("sObject Rows
# by External ID").
FIRST_VERSION_WITH_CREATED = 46.0
# Resources under /sobjects/{Object}/ that the REST API Developer Guide lists besides records
# ("sObject Describe", "sObject Get Updated", "sObject Get Deleted", "List Views", "sObject Quick
# Actions", "Compact Layouts", "sObject Relationships", "sObject Rich Text Image Get", ...).
OBJECT_RESOURCES = frozenset(
    {
        "approvallayouts",
        "compactlayouts",
        "deleted",
        "describe",
        "eventschema",
        "layouts",
        "listviews",
        "platformaction",
        "quickactions",
        "relationships",
        "richtextimagefields",
        "suggestedarticles",
        "updated",
        "userprofiles",
    }
)


# ---------------------------------------------------------------------------- describe


def describe_global(req: Request) -> Response:
    """``GET /sobjects``: every object of the org."""
    return json_response(200, describe_global_body(req.backend.org.schema, req.version), req)


def basic_info(req: Request) -> Response:
    """``GET /sobjects/{sobject}``: the object's summary and recent items."""
    obj = sobject(req, req.params["sobject"])
    return json_response(200, sobject_basic_info(obj, req.version), req)


def describe(req: Request) -> Response:
    """``GET /sobjects/{sobject}/describe``: the object's full metadata."""
    obj = sobject(req, req.params["sobject"])
    schema = req.backend.org.schema
    body = describe_sobject(schema, obj, req.version, req.backend.base_url)
    return json_response(200, body, req)


def not_allowed(req: Request) -> Response:
    """405 on an object's resources, after the object is known to exist (else 404)."""
    sobject(req, req.params["sobject"])
    return method_not_allowed(req)


# ---------------------------------------------------------------------------- by Id


def create(req: Request) -> Response:
    """``POST /sobjects/{sobject}`` (also ``POST /sobjects/{sobject}/Id``): insert one record."""
    obj = sobject(req, req.params["sobject"])
    return _create(req, obj)


def retrieve(req: Request) -> Response:
    """``GET /sobjects/{sobject}/{record_id}[?fields=A,B]``."""
    obj, _, row = _by_id(req)
    fields = _fields_param(req, obj)
    return json_response(200, record_view(obj, row, req.version, fields), req)


def update(req: Request) -> Response:
    """``PATCH /sobjects/{sobject}/{record_id}``: 204 once saved."""
    obj, rid, _ = _by_id(req)
    body = json_object(req)
    _save_single(req, "update", obj, {**body, "Id": rid})
    return empty(204)


def delete(req: Request) -> Response:
    """``DELETE /sobjects/{sobject}/{record_id}``: 204 once deleted (to the recycle bin)."""
    obj, rid, _ = _by_id(req)
    _save_single(req, "delete", obj, {"Id": rid})
    return empty(204)


def not_allowed_on_record(req: Request) -> Response:
    """405 on a record, after the record is found (else 400 or 404)."""
    _by_id(req)
    return method_not_allowed(req)


# ---------------------------------------------------------------------------- by external id


def by_field(req: Request) -> Response:
    """``/sobjects/{sobject}/{field}`` without a value: ``POST .../Id`` creates, else 404."""
    obj, key = _external_id_field(req)
    if key.name == "Id" and req.method == "POST":
        return _create(req, obj)
    return not_found_response(req)


def retrieve_by_external_id(req: Request) -> Response:
    """``GET /sobjects/{sobject}/{field}/{value}``; 300 with the URLs when several match."""
    obj, _, matches = _external_id_matches(req)
    if not matches:
        return not_found_response(req)
    found = req.backend.org.get(matches[0])
    fields = _fields_param(req, obj)
    if found is None:
        return not_found_response(req)
    return json_response(200, record_view(obj, found[1], req.version, fields), req)


def delete_by_external_id(req: Request) -> Response:
    """``DELETE /sobjects/{sobject}/{field}/{value}``."""
    obj, _, matches = _external_id_matches(req)
    if not matches:
        return not_found_response(req)
    _save_single(req, "delete", obj, {"Id": matches[0]})
    return empty(204)


def upsert(req: Request) -> Response:
    """``PATCH`` (or ``POST``) ``/sobjects/{sobject}/{field}/{value}``: insert or update.

    201 with ``created: true`` on insert, 200 with ``created: false`` on update (204 and no
    ``created`` before v46.0); ``?updateOnly=true`` answers 404 instead of inserting.
    """
    obj, key, matches = _external_id_matches(req)
    body = json_object(req)
    if not matches and (req.param("updateOnly") or "").lower() == "true":
        return not_found_response(req)
    record = {k: v for k, v in body.items() if k.lower() != key.name.lower()}
    record[key.name] = req.params["value"]
    outcome = _save_single(req, "upsert", obj, record, external_id_field=key.name)
    legacy = float(req.version) < FIRST_VERSION_WITH_CREATED
    if outcome.created:
        created: dict[str, Any] = {"id": outcome.id, "success": True, "errors": []}
        if not legacy:
            created["created"] = True
        return _with_location(json_response(201, created, req), req, obj, outcome.id)
    if legacy:
        return empty(204)
    return json_response(
        200, {"id": outcome.id, "success": True, "errors": [], "created": False}, req
    )


def not_allowed_by_external_id(req: Request) -> Response:
    """405 on a record addressed by external id, after the field is known (else 404)."""
    _external_id_field(req)
    return method_not_allowed(req)


# ---------------------------------------------------------------------------- helpers


def _by_id(req: Request) -> tuple[ObjectDef, str, dict[str, Any]]:
    """The object, the 18-character id and the live record the path names, or 400/404."""
    obj = sobject(req, req.params["sobject"])
    segment = req.params["record_id"]
    rid = ids.normalize(segment)
    if rid is None:
        raise ErrorResponse(
            error_response(
                400,
                "MALFORMED_ID",
                f"{obj.label} ID: id value of incorrect type: {segment}",
                req,
                fields=["Id"],
            )
        )
    org = req.backend.org
    found = org.get(rid)
    if found is None or found[0] != obj.name:
        if org.is_deleted(rid) and req.method in {"PATCH", "DELETE"}:
            raise ErrorResponse(
                error_response(404, "ENTITY_IS_DELETED", "entity is deleted", req, fields=[])
            )
        raise ErrorResponse(not_found_response(req))
    return obj, rid, found[1]


def _external_id_field(req: Request) -> tuple[ObjectDef, FieldDef]:
    """The object and the external id (or idLookup) field the path names, or a 404 answer."""
    obj = sobject(req, req.params["sobject"])
    name = req.params["field"]
    key = obj.field(name)
    unserved = "value" not in req.params or ids.normalize(name) is not None
    if key is None and (unserved or name.lower() in OBJECT_RESOURCES):
        # /sobjects/{Object}/{name}[/...] (list views, quick actions, layouts, ...) or
        # /sobjects/{Object}/{Id}/{relationship or blob field}: resources the emulator does not
        # serve. The plain 404 of "Status Codes and Error Responses", not an external id error
        # that would mislead.
        raise ErrorResponse(not_found_response(req))
    if key is None or not (key.external_id or key.id_lookup):
        raise ErrorResponse(
            error_response(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
                req,
            )
        )
    return obj, key


def _external_id_matches(req: Request) -> tuple[ObjectDef, FieldDef, list[str]]:
    """Object, key field and ids of the records whose key equals the path's value.

    Several matches answer 300 with their URLs for GET, PATCH and DELETE.
    """
    obj, key = _external_id_field(req)
    value = req.params["value"]
    org = req.backend.org
    if key.name == "Id":
        matches = [value] if org.get(value) else []
    else:
        matches = org.find(obj.name, key.name, value)
    if len(matches) > 1 and req.method in {"GET", "PATCH", "DELETE"}:
        urls = [f"/services/data/v{req.version}/sobjects/{obj.name}/{m}" for m in matches]
        raise ErrorResponse(json_response(300, urls, req))
    return obj, key, matches


def _create(req: Request, obj: ObjectDef) -> Response:
    record = json_object(req)
    outcome = _save_single(req, "insert", obj, record)
    created = json_response(201, {"id": outcome.id, "success": True, "errors": []}, req)
    return _with_location(created, req, obj, outcome.id)


def _with_location(response: Response, req: Request, obj: ObjectDef, rid: str | None) -> Response:
    """A 201 naming the new record's URL in ``Location``.

    REST API Developer Guide, "Composite" (its create and upsert examples): a subrequest that
    creates answers 201 with ``Location: /services/data/vXX.X/sobjects/{Object}/{Id}``. That the
    top-level create and upsert send the same header is not documented by Salesforce (the
    emulator's choice); clients read the id from the body.
    """
    location = f"/services/data/v{req.version}/sobjects/{obj.name}/{rid}"
    return Response(response.status, {**response.headers, "Location": location}, response.body)


def _save_single(
    req: Request,
    operation: str,
    obj: ObjectDef,
    record: dict[str, Any],
    external_id_field: str | None = None,
) -> SaveResult:
    """Save one record; its failure is the request's error answer."""
    org = req.backend.org
    if operation in {"insert", "update", "upsert"}:
        problem = org.check_request(obj.name, [record])
        if problem is not None:
            raise ErrorResponse(request_error(problem, req))
    result = org.save(
        operation,
        obj.name,
        [record],
        external_id_field=external_id_field,
        record_fault=record_faults(req),
        assignment=assignment(req),
        allow_save=allow_save(req),
        api_version=req.version,
    )[0]
    sleep_records(req, 1)
    if not result.success:
        raise ErrorResponse(dml_error(result.errors[0], req))
    return result


def record_view(
    obj: ObjectDef, row: dict[str, Any], version: str, fields: list[str] | None
) -> dict[str, Any]:
    """A record as retrieve returns it: ``attributes`` then every (or each requested) field."""
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


def _fields_param(req: Request, obj: ObjectDef) -> list[str] | None:
    """The ``fields`` query parameter, every name checked; None when absent."""
    raw = req.param("fields")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if obj.field(name) is None:
            raise ErrorResponse(
                error_response(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity '{obj.name}'. If you are attempting to "
                    "use a custom field, be sure to append the '__c' after the custom field "
                    "name. Please reference your WSDL or the describe call for the appropriate "
                    "names.",
                    req,
                )
            )
    return names
