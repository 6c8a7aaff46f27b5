"""Data replication: ``sobjects/{Object}/updated`` and ``sobjects/{Object}/deleted``.

REST API Developer Guide, "sObject Get Updated" and "sObject Get Deleted"; SOAP API Developer
Guide, "getUpdated()", "getDeleted()" and "GetDeletedResult" for the rules: seconds in ``start``
and ``end`` are truncated, ``start`` must precede ``end`` (else ``INVALID_REPLICATION_DATE``),
results reach back at most 30 days (updated) or 15 days (deleted), at most 600,000 ids
(``EXCEEDED_ID_LIMIT``). Updates are found by ``SystemModstamp``, deletions in the org's delete
log. Not documented by Salesforce, the emulator's choice: the window holds ``start`` but not
``end``; ``latestDateCovered`` is ``end``, or now when ``end`` is later; the error texts; the
errors for a window longer than the reach and for missing or unreadable parameters;
``earliestDateAvailable`` 15 days back (nothing is ever purged).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from ..values import format_datetime
from ..wire import ErrorResponse, Request, Response, error_response, json_response
from .common import sobject

UPDATED_DAYS = 30
DELETED_DAYS = 15
MAX_IDS = 600_000
_WHEN = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?"
    r"(Z|[+-]\d{2}:?\d{2})?"
)


def updated(req: Request) -> Response:
    """``GET /sobjects/{Object}/updated/?start=&end=``: ids created or changed in the window."""
    obj = sobject(req, req.params["sobject"])
    inside, covered = _window(req, UPDATED_DAYS)
    stamped = []
    for row in req.backend.org.rows(obj.name):
        stamp = _parse(str(row.get("SystemModstamp") or row.get("LastModifiedDate") or ""))
        if stamp is not None and inside(stamp):
            stamped.append((stamp, str(row["Id"])))
    _check_count(req, len(stamped))
    stamped.sort()
    body = {"ids": [rid for _, rid in stamped], "latestDateCovered": format_datetime(covered)}
    return json_response(200, body, req)


def deleted(req: Request) -> Response:
    """``GET /sobjects/{Object}/deleted/?start=&end=``: deletions in the window."""
    obj = sobject(req, req.params["sobject"])
    inside, covered = _window(req, DELETED_DAYS)
    found = []
    for rid, when in req.backend.org.deletions(obj.name):
        moment = _parse(when)
        if moment is not None and inside(moment):
            found.append((moment, rid))
    _check_count(req, len(found))
    found.sort()
    earliest = _minute(dt.datetime.now(dt.UTC) - dt.timedelta(days=DELETED_DAYS))
    body = {
        "deletedRecords": [{"id": rid, "deletedDate": format_datetime(m)} for m, rid in found],
        "earliestDateAvailable": format_datetime(earliest),
        "latestDateCovered": format_datetime(covered),
    }
    return json_response(200, body, req)


def _window(req: Request, days: int) -> tuple[Callable[[dt.datetime], bool], dt.datetime]:
    """(whether a moment is inside, the latest moment covered) of a valid window, or a 400.

    The window holds ``start`` and excludes ``end``; an ``end`` still to come covers up to now.
    """
    now = dt.datetime.now(dt.UTC)
    bounds = []
    for name in ("start", "end"):
        text = req.param(name)
        if not text:
            raise ErrorResponse(
                error_response(400, "MISSING_ARGUMENT", f"{name} parameter is required", req)
            )
        moment = _parse(text)
        if moment is None:
            raise _refused(req, f"{name} is not a valid dateTime: {text}")
        bounds.append(_minute(moment))
    start, end = bounds
    if start >= end:
        raise _refused(req, "start date must chronologically precede end date")
    if start < now - dt.timedelta(days=days):
        raise _refused(req, f"start date must be within the last {days} days")
    if end - start > dt.timedelta(days=days):
        raise _refused(req, f"the window from start to end must not exceed {days} days")
    if end <= now:
        return (lambda moment: start <= moment < end), end
    return (lambda moment: start <= moment <= now), now


def _check_count(req: Request, count: int) -> None:
    if count > MAX_IDS:
        raise ErrorResponse(
            error_response(
                400,
                "EXCEEDED_ID_LIMIT",
                f"More than {MAX_IDS} ids: choose start and end dates closer together",
                req,
            )
        )


def _refused(req: Request, message: str) -> ErrorResponse:
    return ErrorResponse(error_response(400, "INVALID_REPLICATION_DATE", message, req))


def _minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def _parse(text: str) -> dt.datetime | None:
    """A dateTime parameter or stored value as an aware UTC datetime, or None.

    A ``+`` sent unencoded arrives as a space; it is read back as ``+``. No offset means UTC.
    """
    match = _WHEN.fullmatch(text.strip().replace(" ", "+"))
    if match is None:
        return None
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    fraction = re.search(r"\.(\d{1,6})", text)
    micros = int(fraction.group(1).ljust(6, "0")) if fraction else 0
    offset_text = match.group(7) or "Z"
    offset = dt.timedelta(0)
    if offset_text != "Z":
        digits = offset_text[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if offset_text[0] == "-" else offset
    try:
        local = dt.datetime(year, month, day, hour, minute, second, micros, tzinfo=dt.UTC)
    except ValueError:
        return None
    return local - offset
