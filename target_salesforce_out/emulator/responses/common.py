"""Helpers the REST handlers share: JSON bodies, 404/405 answers, record errors, pacing."""

from __future__ import annotations

import json
import time
from typing import Any

from ..definitions import ObjectDef
from ..errors import RecordError
from ..store import ACTIVE_RULE, Org, RecordFault
from ..wire import ErrorResponse, Request, Response, error_response, json_response
from ..wire import not_found as not_found_response


def not_found(req: Request) -> Response:
    """404 ``NOT_FOUND`` for a path no REST API route answers."""
    return not_found_response(req)


def plain_not_found(req: Request) -> Response:
    """404 ``NOT_FOUND`` outside the REST API (compact JSON whatever the headers say)."""
    return not_found_response()


def method_not_allowed(req: Request) -> Response:
    """405 for a method the resource does not support.

    The errorCode text is not documented by Salesforce; the emulator's choice.
    """
    return error_response(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed.", req
    )


def sobject(req: Request, name: str) -> ObjectDef:
    """The object named in the path, or a 404 answer."""
    obj = req.backend.org.schema.get(name)
    if obj is None:
        raise ErrorResponse(not_found_response(req))
    return obj


def parse_json(req: Request) -> Any:
    """The request body as JSON, or a 400 ``JSON_PARSER_ERROR`` answer."""
    try:
        return json.loads(req.body.decode("utf-8") or "null")
    except UnicodeDecodeError:
        raise ErrorResponse(
            error_response(400, "JSON_PARSER_ERROR", "Invalid UTF-8 in request body", req)
        ) from None
    except json.JSONDecodeError as exc:
        raise ErrorResponse(
            error_response(
                400,
                "JSON_PARSER_ERROR",
                f"{exc.msg} at [line:{exc.lineno}, column:{exc.colno}]",
                req,
            )
        ) from None


def json_object(req: Request) -> dict[str, Any]:
    """The request body as one JSON object (an sObject), or a 400 answer."""
    body = parse_json(req)
    if not isinstance(body, dict):
        raise ErrorResponse(
            error_response(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of sObject from a non-object JSON value",
                req,
            )
        )
    return body


def dml_error(error: RecordError, req: Request) -> Response:
    """A single-record DML failure as a REST error array (404 for missing records)."""
    status = 404 if error.status_code in {"NOT_FOUND", "ENTITY_IS_DELETED"} else 400
    if error.duplicate_result is not None:
        # REST API Developer Guide, "Duplicate Rule Header": the error carries duplicateResult.
        return json_response(status, [error.as_rest()], req)
    return error_response(status, error.status_code, error.message, req, fields=error.fields)


def request_error(error: RecordError, req: Request) -> Response:
    """A whole-request failure (``Org.check_request``), with the JSON position when parsing."""
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


def record_faults(req: Request) -> RecordFault:
    """The fault plan's per-record decision for the records this request carries."""
    return req.backend.record_faults(req.method, req.path)


def sleep_records(req: Request, count: int) -> None:
    """Simulated processing time (``record_ms``) for ``count`` records."""
    record_ms = req.backend.record_ms
    if record_ms > 0 and count:
        time.sleep(record_ms * count / 1000)


def allow_save(req: Request) -> bool:
    """Whether the ``Sforce-Duplicate-Rule-Header`` asks to save despite alert-only rules.

    REST API Developer Guide, "Duplicate Rule Header": ``field=value`` pairs joined by ``;``
    (``allowSave``, ``includeRecordDetails``, ``runAsCurrentUser``), each ``false`` by default.
    """
    for part in (req.headers.get("Sforce-Duplicate-Rule-Header") or "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "allowsave":
            return value.strip().lower() == "true"
    return False


def assignment(req: Request) -> str | None:
    """The assignment rule the ``Sforce-Auto-Assign`` header asks saves to run.

    REST API Developer Guide, "Assignment Rule Header": ``TRUE`` (the default when the header
    is absent) runs the active rule, ``FALSE`` none, an AssignmentRule Id that rule; ``TRUE``
    and ``FALSE`` are case-insensitive. A value that is neither answers 400 ``MALFORMED_ID``.
    """
    value = (req.headers.get("Sforce-Auto-Assign") or "TRUE").strip()
    if value.upper() == "TRUE":
        return ACTIVE_RULE
    if value.upper() == "FALSE":
        return None
    problem = Org.rule_id_problem(value)
    if problem is not None:
        raise ErrorResponse(error_response(400, problem.status_code, problem.message, req))
    return value
