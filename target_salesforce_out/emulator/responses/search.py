"""SOSL over REST: ``GET /search/?q=FIND {term} ...`` (REST API Developer Guide, "Search").

The statement runs through sosl.py; the answer is ``{"searchRecords": [...]}``. What the emulator
does not implement is refused with 400 ``MALFORMED_SEARCH`` naming it.
"""

from __future__ import annotations

from .. import sosl
from ..wire import Request, Response, error_response, json_response


def search(req: Request) -> Response:
    """``GET /search?q=SOSL``: matching records, per RETURNING object."""
    text = req.param("q")
    if text is None:
        # Code and text not documented by Salesforce; the emulator's choice, as for /query.
        return error_response(400, "MALFORMED_SEARCH", "A search string has to be specified", req)
    try:
        records = sosl.search(text, req.backend.org, api_version=req.version)
    except sosl.SoslError as exc:
        return error_response(400, exc.error_code, exc.message, req)
    return json_response(200, {"searchRecords": records}, req)
