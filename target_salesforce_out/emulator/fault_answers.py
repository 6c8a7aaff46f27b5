"""What injected faults do to an answer: bodies of injected statuses, lost and cut answers.

The fault plan (faults.py) decides which faults fire; this module renders them.
"""

from __future__ import annotations

import json

from .faults import RequestFaults
from .wire import Response


class CutBody(bytes):
    """A body of which only the first ``cut_at`` bytes are sent before the socket closes."""

    cut_at: int

    def __new__(cls, payload: bytes, cut_at: int) -> CutBody:
        """Wrap ``payload``."""
        body = super().__new__(cls, payload)
        body.cut_at = cut_at
        return body


def after(faults: RequestFaults, response: Response) -> Response | None:
    """The answer to send for a request carried out: None drops it, or it is cut."""
    if faults.lose_answer:
        return None
    if faults.cut_after_bytes is None:
        return response
    status, headers, payload = response
    return Response(status, headers, CutBody(payload, faults.cut_after_bytes))


def fault_response(status: int, body: str | None) -> Response:
    """Salesforce's answer for an injected status.

    REST API Developer Guide, "Status Codes and Error Responses" (the JSON error array); the
    texts of 500 and 503 vary between orgs, and the HTML page of gateway errors (502, 504) is not
    documented by Salesforce: the emulator's choice.

    Args:
        status: One of ``faults.FAULT_STATUSES``.
        body: ``json``, ``html`` or ``empty`` to override the default body shape.

    Returns:
        The response.
    """
    errors = {
        401: ("INVALID_SESSION_ID", "Session expired or invalid"),
        403: ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
        500: (
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: "
            "1234567-8901 (-123456789)",
        ),
        503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later."),
    }
    kind = body or ("json" if status in errors else "empty")
    if kind == "empty":
        return Response(status, {"Content-Type": "text/plain"}, b"")
    if kind == "html" or status not in errors:
        page = (
            f"<html><head><title>{status}</title></head><body><h1>{status}</h1>"
            "<p>The server encountered an error processing the request.</p></body></html>"
        )
        return Response(status, {"Content-Type": "text/html;charset=UTF-8"}, page.encode())
    code, message = errors[status]
    payload = json.dumps([{"message": message, "errorCode": code}], separators=(",", ":"))
    return Response(status, {"Content-Type": "application/json;charset=UTF-8"}, payload.encode())
