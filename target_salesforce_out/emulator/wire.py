"""Wire helpers: the request/response types and Salesforce's JSON rendering (2.8).

Compact JSON by default; with ``X-PrettyPrint: 1`` the Jackson-style layout seen in recordings:
two-space indented objects, ``" : "`` separators, arrays inline as ``[ a, b ]``, ``[ ]`` and ``{ }``
for empty containers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json;charset=UTF-8"
Response = tuple[int, dict[str, str], bytes]

NOT_FOUND_MESSAGE = "The requested resource does not exist"


@dataclass
class Request:
    """One parsed request, as the resource handlers see it.

    Attributes:
        method: HTTP method (after any ``_HttpMethod`` override).
        path: URL path, percent-decoding left to the handlers.
        query: Parsed query string.
        headers: Request headers (case-insensitive mapping).
        body: Raw body.
        version: API version from the path (``62.0``), or "".
        user_id: Authenticated user's id, or "".
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""
    version: str = ""
    user_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pretty(self) -> bool:
        """Whether the client asked for pretty-printed JSON."""
        return (self.headers.get("X-PrettyPrint") or "").strip() == "1"

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None


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
        The response tuple.
    """
    pretty = req.pretty if req is not None else False
    return status, {"Content-Type": JSON_TYPE}, render(value, pretty=pretty)


def error_response(
    status: int,
    code: str,
    message: str,
    req: Request | None = None,
    fields: list[str] | None = None,
) -> Response:
    """A REST error array ``[{"message", "errorCode"(, "fields")}]`` (2.3).

    Args:
        status: HTTP status.
        code: errorCode.
        message: message text.
        req: The request (decides pretty-printing).
        fields: Field names, when the error is about fields.

    Returns:
        The response tuple.
    """
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return json_response(status, [body], req)


def not_found(req: Request | None = None) -> Response:
    """404 ``NOT_FOUND`` "The requested resource does not exist"."""
    return error_response(404, "NOT_FOUND", NOT_FOUND_MESSAGE, req)


def empty(status: int) -> Response:
    """A response without a body (204, 201 for Bulk uploads, ...)."""
    return status, {}, b""
