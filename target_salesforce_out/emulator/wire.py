"""What handlers take and give: the Request and Response types and Salesforce's JSON rendering.

Compact JSON by default; with ``X-PrettyPrint: 1`` the Jackson-style layout seen in responses of
real orgs: two-space indented objects, ``" : "`` separators, arrays inline as ``[ a, b ]``, ``[ ]``
and ``{ }`` for empty containers (the layout is not documented by Salesforce; the emulator's
choice, after recorded traffic).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .backend import Backend

JSON_TYPE = "application/json;charset=UTF-8"
NOT_FOUND_MESSAGE = "The requested resource does not exist"


class Response(NamedTuple):
    """One answer: status, headers and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Request:
    """One parsed request, as a handler sees it.

    Attributes:
        backend: The emulated org's models (store, Bulk jobs, tokens, fault plan, ...).
        method: HTTP method (after any ``_HttpMethod`` override).
        path: URL path as sent (percent-encoded).
        query: Parsed query string.
        headers: Request headers (case-insensitive mapping).
        body: Raw body (already inflated when it was sent gzip-encoded).
        params: Path parameters the route pattern matched (percent-decoded for API routes).
        version: API version from the path (``62.0``), or "" outside the REST API.
        user_id: Authenticated user's id, or "" outside the REST API.
    """

    backend: Backend
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    version: str = ""
    user_id: str = ""

    @property
    def pretty(self) -> bool:
        """Whether the client asked for pretty-printed JSON."""
        return (self.headers.get("X-PrettyPrint") or "").strip() == "1"

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None


class ErrorResponse(Exception):  # noqa: N818 - a response carried by an exception, not an error
    """Raised by a handler (or a helper it calls) to answer with ``response`` at once."""

    def __init__(self, response: Response) -> None:
        """Carry the response to the router.

        Args:
            response: The answer to send.
        """
        super().__init__(response.status)
        self.response = response


def _pretty(value: Any, level: int) -> str:
    if isinstance(value, dict):
        if not value:
            return "{ }"
        pad = "  " * (level + 1)
        items = [
            f"{pad}{json.dumps(k, ensure_ascii=False)} : {_pretty(v, level + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        return "[ " + ", ".join(_pretty(v, level) for v in value) + " ]"
    return json.dumps(value, ensure_ascii=False)


def render(value: Any, *, pretty: bool = False) -> bytes:
    """Serialize a JSON body the way Salesforce does.

    Args:
        value: The JSON-compatible value.
        pretty: Use the ``X-PrettyPrint`` layout.

    Returns:
        UTF-8 bytes.
    """
    if pretty:
        return _pretty(value, 0).encode()
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(status: int, value: Any, req: Request | None = None) -> Response:
    """A JSON response with Salesforce's content type.

    Args:
        status: HTTP status.
        value: Body value.
        req: The request (decides pretty-printing).

    Returns:
        The response.
    """
    pretty = req.pretty if req is not None else False
    return Response(status, {"Content-Type": JSON_TYPE}, render(value, pretty=pretty))


def error_response(
    status: int,
    code: str,
    message: str,
    req: Request | None = None,
    fields: list[str] | None = None,
) -> Response:
    """A REST error array ``[{"message", "errorCode"(, "fields")}]``.

    REST API Developer Guide, "Status Codes and Error Responses".

    Args:
        status: HTTP status.
        code: errorCode.
        message: message text.
        req: The request (decides pretty-printing).
        fields: Field names, when the error is about fields.

    Returns:
        The response.
    """
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return json_response(status, [body], req)


def not_found(req: Request | None = None) -> Response:
    """404 ``NOT_FOUND`` "The requested resource does not exist"."""
    return error_response(404, "NOT_FOUND", NOT_FOUND_MESSAGE, req)


def empty(status: int, headers: dict[str, str] | None = None) -> Response:
    """A response without a body (204, 201 for Bulk uploads, ...)."""
    return Response(status, dict(headers or {}), b"")
