"""SOQL queries: ``/query`` and ``/queryAll`` with paging through ``nextRecordsUrl``.

REST API Developer Guide, "Execute a SOQL Query" and "Execute a SOQL Query that Includes Deleted
Items"; the page size follows the ``Sforce-Query-Options: batchSize=N`` header (200 to 2,000).
"""

from __future__ import annotations

from typing import Any

from .. import soql
from ..cursors import Cursor
from ..wire import Request, Response, error_response, json_response

DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000


def query(req: Request) -> Response:
    """``GET /query?q=SOQL``: live records."""
    return _execute(req, include_deleted=False)


def query_all(req: Request) -> Response:
    """``GET /queryAll?q=SOQL``: live and deleted records."""
    return _execute(req, include_deleted=True)


def next_page(req: Request) -> Response:
    """``GET /query/{locator}-{offset}``: the next page of an open cursor."""
    locator, _, offset_text = req.params["locator"].rpartition("-")
    cursor = req.backend.cursors.get(locator)
    if cursor is None or not offset_text.isdigit():
        return error_response(400, "INVALID_QUERY_LOCATOR", "invalid query locator", req)
    return _page(req, cursor, int(offset_text), locator=locator)


def _execute(req: Request, *, include_deleted: bool) -> Response:
    text = req.param("q")
    if text is None:
        return error_response(400, "MALFORMED_QUERY", "A query string has to be specified", req)
    try:
        result = soql.execute(
            text, req.backend.org, include_deleted=include_deleted, api_version=req.version
        )
    except soql.SoqlError as exc:
        return error_response(400, exc.error_code, exc.message, req)
    # Aggregate results come in one batch (SOQL and SOSL Reference, "Considerations When Using
    # GROUP BY").
    single = max(len(result.records), 1) if result.aggregate else None
    cursor = Cursor(result.records, result.total_size, req.version, page_size=single)
    return _page(req, cursor, 0, locator=None)


def _batch_size(req: Request) -> int:
    options = req.headers.get("Sforce-Query-Options") or ""
    for part in options.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return min(max(int(value), MIN_BATCH), MAX_BATCH)
    return DEFAULT_BATCH


def _page(req: Request, cursor: Cursor, offset: int, *, locator: str | None) -> Response:
    size = cursor.page_size or _batch_size(req)
    end = offset + size
    done, rest = req.backend.cursors.advance(cursor, locator, end=end)
    body: dict[str, Any] = {"totalSize": cursor.total, "done": done}
    if rest is not None:
        body["nextRecordsUrl"] = f"/services/data/v{req.version}/query/{rest}-{end}"
    body["records"] = cursor.records[offset:end]
    return json_response(200, body, req)
