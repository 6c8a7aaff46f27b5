"""Inspection endpoints under ``/__emulator`` (no token, never counted, never logged).

``GET /__emulator/records/{sobject}``, ``GET /__emulator/requests``, ``POST /__emulator/reset``
and, with ``--tls``, ``GET /__emulator/ca.pem``, as the README's "Inspection endpoints" describes
them.
"""

from __future__ import annotations

from ..wire import Request, Response, empty, json_response, not_found


def records(req: Request) -> Response:
    """Stored live records of one object."""
    org = req.backend.org
    name = req.params["sobject"]
    if org.schema.get(name) is None:
        return not_found()
    return json_response(200, org.rows(name))


def requests(req: Request) -> Response:
    """The request log, in arrival order."""
    return json_response(200, req.backend.log.entries())


def ca_pem(req: Request) -> Response:
    """The CA certificate clients trust when the emulator serves HTTPS (404 over plain HTTP)."""
    pem = req.backend.ca_pem
    if not pem:
        return not_found()
    return Response(200, {"Content-Type": "application/x-pem-file"}, pem)


def reset(req: Request) -> Response:
    """Drop records, jobs, the request log and API usage; 204."""
    req.backend.reset()
    return empty(204)
