"""Composite: up to 25 subrequests in one call, with ``@{ref.path}`` references between them.

REST API Developer Guide, "Composite". Subrequests run in order through the same REST API routes
as standalone calls (the ``dispatch`` routes.py hands in), so their bodies and errors are exactly
what those resources return. With ``allOrNone`` the first failure rolls back every write of the
request and the other subrequests report ``PROCESSING_HALTED``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..routing import Handler
from ..wire import Request, Response, error_response, json_response

MAX_SUBREQUESTS = 25
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_VERSIONED = re.compile(r"/services/data/v(\d+\.\d)(/.*)?")
_HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class _UnresolvedError(Exception):
    def __init__(self, expression: str, ref: str) -> None:
        super().__init__(expression)
        self.expression = expression
        self.ref = ref


def _lookup(results: dict[str, Any], ref: str, path: str, expression: str) -> Any:
    if ref not in results:
        raise _UnresolvedError(expression, ref)
    value = results[ref]
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        name, index = step
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise _UnresolvedError(expression, ref)
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _lookup(results, whole.group(1), whole.group(2), value)
        return _REF.sub(lambda m: str(_lookup(results, m.group(1), m.group(2), m.group(0))), value)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value


def _halted(ref: str, message: str = _HALTED) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def composite(req: Request, *, dispatch: Handler) -> Response:
    """``POST /composite``: run the subrequests.

    Args:
        req: The composite request.
        dispatch: Answers one subrequest as the REST API routes would.

    Returns:
        200 with ``{"compositeResponse": [...]}``, or 400 for a malformed request.
    """
    try:
        body = json.loads(req.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error_response(400, "JSON_PARSER_ERROR", str(exc), req)
    subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        return error_response(
            400, "INVALID_FIELD", "compositeRequest is required and must be a non-empty list", req
        )
    if len(subrequests) > MAX_SUBREQUESTS:
        # The 25-subrequest limit is documented; the errorCode is not (the emulator's choice).
        return error_response(
            400, "LIMIT_EXCEEDED", "Composite requests may contain at most 25 subrequests", req
        )
    all_or_none = bool(body.get("allOrNone", False))
    results: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    failed_at: int | None = None
    org = req.backend.org
    with org.transaction() as log:
        for sub in subrequests:
            ref = str(sub.get("referenceId", "")) if isinstance(sub, dict) else ""
            if failed_at is not None and all_or_none:
                responses.append(_halted(ref))
                continue
            entry = _run(dispatch, req, sub, ref, results)
            responses.append(entry)
            if entry["httpStatusCode"] >= 400 and failed_at is None:
                failed_at = len(responses) - 1
    if all_or_none and failed_at is not None:
        org.rollback(log)
        responses = [
            r if i == failed_at else _halted(r["referenceId"]) for i, r in enumerate(responses)
        ]
    return json_response(200, {"compositeResponse": responses}, req)


def _run(
    dispatch: Handler, outer: Request, sub: Any, ref: str, results: dict[str, Any]
) -> dict[str, Any]:
    if not isinstance(sub, dict) or not ref or "url" not in sub or "method" not in sub:
        return {
            "body": [
                {
                    "errorCode": "INVALID_FIELD",
                    "message": "Each subrequest needs method, url and referenceId",
                }
            ],
            "httpHeaders": {},
            "httpStatusCode": 400,
            "referenceId": ref,
        }
    try:
        url = _substitute(str(sub["url"]), results)
        payload = _substitute(sub.get("body"), results)
    except _UnresolvedError as exc:
        return _halted(
            ref,
            f"Invalid reference specified. No value for {exc.expression} found in {exc.ref}. "
            f"Provided referenceId ('{exc.ref}') is invalid.",
        )
    parts = urlsplit(url)
    match = _VERSIONED.fullmatch(parts.path)
    tail = (match.group(2) if match else None) or ""
    if match is None or tail.rstrip("/") == "/composite":
        status, headers, raw = error_response(
            404, "NOT_FOUND", "The requested resource does not exist"
        )
    else:
        sub_req = Request(
            backend=outer.backend,
            method=str(sub["method"]).upper(),
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={},
            body=json.dumps(payload).encode() if payload is not None else b"",
            version=match.group(1),
            user_id=outer.user_id,
        )
        status, headers, raw = dispatch(sub_req)
    value = (
        json.loads(raw)
        if raw and headers.get("Content-Type", "").startswith("application/json")
        else None
    )
    http_headers: dict[str, str] = {}
    if "Location" in headers:
        http_headers["Location"] = headers["Location"]
    if status < 400 and value is not None:
        results[ref] = value
    return {
        "body": value,
        "httpHeaders": http_headers,
        "httpStatusCode": status,
        "referenceId": ref,
    }
