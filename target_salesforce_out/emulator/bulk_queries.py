"""The Bulk API 2.0 query job engine: query jobs, their states and their CSV result sets.

Bulk API 2.0 and Bulk API Developer Guide: "Create a Query Job", "Get Information About a Query
Job", "Get Information About All Query Jobs", "Get Results for a Query Job", "Abort a Query Job"
and "Delete a Query Job". The SOQL runs through soql.py when the job is created (the result set is
a snapshot taken then), so a query Salesforce would reject is refused at once with the same
``errorCode`` and message as the REST ``/query`` resource. The state a client sees moves on a
small clock (``min_state_seconds``): ``UploadComplete``, then ``InProgress``, then
``JobComplete``, so polling code is exercised. The engine knows nothing of HTTP:
responses/query_jobs.py parses requests and renders what it returns; its refusals are
:class:`QueryJobError` (an HTTP status, an ``errorCode`` and a message).

Result CSV: a header of the selected fields (``Account.Name`` for parent fields, in SELECT
order, as the guide says columns come from v50.0), every cell in double quotes as in the guide's
example, with the job's delimiter and line ending. How nulls, booleans, numbers and datetimes are
written is not documented by Salesforce; the emulator's choice: null as an empty cell (``""``,
which Salesforce cannot tell from an empty string either), ``true``/``false``, dates
``yyyy-MM-dd``, datetimes in UTC as ``yyyy-MM-ddTHH:mm:ss.SSSZ``, numbers as the REST API writes
them (``5000.0``, ``42``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import ids, soql
from .bulk_csv import DELIMITERS, LINE_ENDINGS, quote
from .store import Org

__all__ = ["BulkQueries", "QueryJob", "QueryJobError"]

OPERATIONS = ("query", "queryAll")
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
# Bulk API 2.0 Developer Guide, "Get Results for a Query Job": without maxRecords the server
# picks the set size; 50,000 is the emulator's choice.
DEFAULT_MAX_RECORDS = 50_000
# Bulk API 2.0 Developer Guide, "Create a Query Job": SOQL a query job cannot run.
UNSUPPORTED_CLAUSES = ("COUNT()", "aggregate functions", "GROUP BY", "OFFSET")
_STATUS_NAMES = {
    "UploadComplete": "UPLOAD_COMPLETE",
    "InProgress": "IN_PROGRESS",
    "Aborted": "ABORTED",
    "Failed": "FAILED",
}
_JOB_ID_LENGTHS = (15, 18)


class QueryJobError(Exception):
    """A request the engine refuses.

    Attributes:
        status: HTTP status of the answer.
        code: Salesforce ``errorCode``.
        message: The message text.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        """Store the status, code and message.

        Args:
            status: HTTP status.
            code: errorCode.
            message: message text.
        """
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _invalid(prop: str, value: Any) -> QueryJobError:
    """400 ``API_ERROR`` for a property value Salesforce does not accept (as for ingest jobs)."""
    shown = "null" if value is None else str(value)
    return QueryJobError(
        400, "API_ERROR", f"Invalid value: '{shown}' supplied for property: '{prop}'"
    )


@dataclass
class QueryJob:
    """One query job and its snapshot of results; guarded by ``BulkQueries._lock``."""

    id: str
    operation: str
    sobject: str
    query: str
    created_by: str
    created_date: str
    api_version: str
    line_ending: str
    column_delimiter: str
    header: str
    rows: list[str] = field(default_factory=list)
    state: str = "UploadComplete"
    system_modstamp: str = ""
    created_at: float = field(default_factory=time.monotonic)
    processing_ms: int = 0


class BulkQueries:
    """The Bulk API 2.0 query jobs of one emulated org. Thread-safe.

    Attributes:
        min_state_seconds: How long a client sees ``UploadComplete`` and then ``InProgress``.
        created: Query jobs created since the last reset (``DailyBulkV2QueryJobs`` in /limits).
    """

    def __init__(self, org: Org, *, min_state_seconds: float = 0.05) -> None:
        """Create the engine.

        Args:
            org: The org queries run against.
            min_state_seconds: See the class attributes.
        """
        self.org = org
        self.min_state_seconds = min_state_seconds
        self.created = 0
        self._lock = threading.Lock()
        self._jobs: dict[str, QueryJob] = {}

    def reset(self) -> None:
        """Forget every job."""
        with self._lock:
            self._jobs.clear()
            self.created = 0

    def get(self, job_id: str) -> QueryJob | None:
        """The job with this 15- or 18-character id, or None."""
        canonical = ids.normalize(job_id) if len(job_id) in _JOB_ID_LENGTHS else None
        with self._lock:
            return self._jobs.get(canonical) if canonical else None

    # ------------------------------------------------------------------ create

    def create(self, spec: dict[str, Any], api_version: str, user_id: str) -> dict[str, Any]:
        """Create a job and run its query ("Create a Query Job").

        Args:
            spec: The request's job properties.
            api_version: API version of the request, e.g. ``62.0``.
            user_id: Id of the authenticated user (``createdById``).

        Returns:
            The created job's properties (state ``UploadComplete``).

        Raises:
            QueryJobError: For an invalid property, a query SOQL rejects, or SOQL a query job
                cannot run.
        """
        operation = spec.get("operation")
        if operation not in OPERATIONS:
            raise _invalid("operation", operation)
        text = spec.get("query")
        if not isinstance(text, str) or not text.strip():
            raise _invalid("query", text)
        delimiter = spec.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            raise _invalid("columnDelimiter", delimiter)
        line_ending = spec.get("lineEnding", "LF")
        if line_ending not in LINE_ENDINGS:
            raise _invalid("lineEnding", line_ending)
        if spec.get("contentType", "CSV") != "CSV":
            raise _invalid("contentType", spec.get("contentType"))
        started = time.monotonic()
        try:
            result = soql.execute(
                text, self.org, include_deleted=operation == "queryAll", api_version=api_version
            )
        except soql.SoqlError as exc:
            raise QueryJobError(400, exc.error_code, exc.message) from None
        _check_supported(result)
        separator = DELIMITERS[delimiter]
        header = separator.join(quote(c.name) for c in result.columns)
        rows = [
            separator.join(quote(csv_cell(c.value(record), c.type)) for c in result.columns)
            for record in result.records
        ]
        now = _now_text()
        job = QueryJob(
            id=ids.new_id("750"),
            operation=str(operation),
            sobject=result.sobject,
            query=text,
            created_by=user_id,
            created_date=now,
            system_modstamp=now,
            api_version=api_version,
            line_ending=str(line_ending),
            column_delimiter=str(delimiter),
            header=header,
            rows=rows,
            processing_ms=int((time.monotonic() - started) * 1000) + 1,
        )
        with self._lock:
            self._jobs[job.id] = job
            self.created += 1
            out = self._head(job, job.state)
        out["lineEnding"] = job.line_ending
        out["columnDelimiter"] = job.column_delimiter
        return out

    # ------------------------------------------------------------------ job bodies

    def _visible_state(self, job: QueryJob) -> str:
        if job.state != "UploadComplete":
            return job.state
        elapsed = time.monotonic() - job.created_at
        if elapsed < self.min_state_seconds:
            return "UploadComplete"
        if elapsed < 2 * self.min_state_seconds:
            return "InProgress"
        return "JobComplete"

    def _head(self, job: QueryJob, state: str) -> dict[str, Any]:
        return {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject,
            "createdById": job.created_by,
            "createdDate": job.created_date,
            "systemModstamp": job.system_modstamp,
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.api_version),
        }

    def info(self, job: QueryJob) -> dict[str, Any]:
        """The job as a client sees it now ("Get Information About a Query Job")."""
        with self._lock:
            state = self._visible_state(job)
            out = self._head(job, state)
        done = state == "JobComplete"
        out["jobType"] = "V2Query"
        out["lineEnding"] = job.line_ending
        out["columnDelimiter"] = job.column_delimiter
        out["numberRecordsProcessed"] = len(job.rows) if done else 0
        out["retries"] = 0
        out["totalProcessingTime"] = job.processing_ms if done else 0
        out["isPkChunkingSupported"] = True
        return out

    def list_jobs(
        self, *, job_type: str, start: int, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of job summaries ("Get Information About All Query Jobs").

        Args:
            job_type: ``jobType`` filter ("" for any).
            start: Index of the first job of the page.
            size: Page size.

        Returns:
            (the page's summaries, the number of jobs the filter keeps).
        """
        with self._lock:
            jobs = list(self._jobs.values()) if job_type in ("", "V2Query") else []
            records = []
            for job in jobs[start : start + size]:
                summary = self._head(job, self._visible_state(job))
                summary["jobType"] = "V2Query"
                summary["lineEnding"] = job.line_ending
                summary["columnDelimiter"] = job.column_delimiter
                records.append(summary)
        return records, len(jobs)

    # ------------------------------------------------------------------ state changes

    def abort(self, job: QueryJob) -> dict[str, Any]:
        """Abort a job still ``UploadComplete`` or ``InProgress`` ("Abort a Query Job").

        Raises:
            QueryJobError: When the job already finished (409; the code and text are not
                documented by Salesforce, the emulator's choice as for ingest jobs).
        """
        with self._lock:
            visible = self._visible_state(job)
            if visible in TERMINAL:
                raise QueryJobError(
                    409,
                    "INVALIDJOBSTATE",
                    f"InvalidJobState : Unable to change the state of job {job.id} from "
                    f"{visible} to Aborted",
                )
            job.state = "Aborted"
            job.system_modstamp = _now_text()
            return self._head(job, job.state)

    def delete(self, job: QueryJob) -> None:
        """Delete a finished job and its results ("Delete a Query Job").

        Raises:
            QueryJobError: While the job is not ``JobComplete``, ``Aborted`` or ``Failed``.
        """
        with self._lock:
            if self._visible_state(job) not in TERMINAL:
                raise QueryJobError(
                    400,
                    "API_ERROR",
                    "Error encountered when deleting the job because the job is not terminated",
                )
            self._jobs.pop(job.id, None)

    # ------------------------------------------------------------------ results

    def results(
        self, job: QueryJob, *, locator: str | None, max_records: str | None, api_version: str
    ) -> tuple[bytes, str, int]:
        """One set of results ("Get Results for a Query Job").

        Args:
            job: The job.
            locator: The ``locator`` parameter (None or empty: the first set).
            max_records: The ``maxRecords`` parameter, as sent.
            api_version: Version of the request; it must be the job's.

        Returns:
            (CSV bytes, the ``Sforce-Locator`` of the next set or ``null``, records in the set).

        Raises:
            QueryJobError: Another API version (409), a job not ``JobComplete`` (412), or a bad
                parameter (400).
        """
        if api_version != job.api_version:
            # The 409 is documented; its errorCode and text are the emulator's choice.
            raise QueryJobError(
                409,
                "API_ERROR",
                f"Query results must be retrieved with the API version that created the job "
                f"({job.api_version})",
            )
        with self._lock:
            state = self._visible_state(job)
        if state != "JobComplete":
            # Bulk API 2.0 Developer Guide (API v47.0), "Get Results for a Query Job".
            raise QueryJobError(
                412,
                "JOB_NOT_COMPLETE",
                "can only download query results of successfully completed bulk job with status: "
                f"JOB_COMPLETE. Current status: {_STATUS_NAMES.get(state, state.upper())}",
            )
        size = DEFAULT_MAX_RECORDS
        if max_records is not None:
            if not max_records.isdigit() or int(max_records) < 1:
                raise _invalid("maxRecords", max_records)
            size = int(max_records)
        offset = _offset(locator)
        newline = LINE_ENDINGS[job.line_ending]
        page = job.rows[offset : offset + size]
        # An empty set still carries the header row (not documented by Salesforce; the
        # emulator's choice).
        body = newline.join([job.header, *page]) + newline
        end = offset + size
        next_locator = _locator(end) if end < len(job.rows) else "null"
        return body.encode("utf-8"), next_locator, len(page)


def _check_supported(result: soql.QueryResult) -> None:
    """Refuse SOQL a query job cannot run ("Create a Query Job").

    The code and text are not documented by Salesforce (the emulator's choice, after the
    "... not supported in Bulk V2 Query with CSV content type" messages of real orgs).
    """
    for clause in UNSUPPORTED_CLAUSES:
        if clause in result.clauses:
            raise QueryJobError(
                400,
                "API_ERROR",
                f"{clause} not supported in Bulk V2 Query with CSV content type",
            )
    compound = [c.name for c in result.columns if c.type == "address"]
    if compound:
        raise QueryJobError(
            400,
            "API_ERROR",
            f"Compound fields not supported in Bulk V2 Query with CSV content type: "
            f"{', '.join(compound)}",
        )


def _locator(offset: int) -> str:
    """An opaque locator: the offset in unpadded base64 (``10000`` -> ``MTAwMDA``)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str | None) -> int:
    if not locator:
        return 0
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        raise _invalid("locator", locator)
    return int(text)


def csv_cell(value: Any, ftype: str) -> str:
    """One value as a query result cell (before quoting); see the module doc."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return format(value, "f") if "e" in text else text
    if ftype == "datetime" and isinstance(value, str):
        return _utc_text(value)
    return str(value)


def _utc_text(value: str) -> str:
    """A stored datetime as ``yyyy-MM-ddTHH:mm:ss.SSSZ``."""
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
