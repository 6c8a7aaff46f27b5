"""Bulk API 2.0 ingest jobs for the emulator (salesforce-api.md section 7).

:class:`BulkIngest` answers every request under ``/services/data/vXX.X/jobs/ingest``: job
create / upload / close / abort / info / list / delete and the three result CSVs. Uploaded CSV is
parsed with the job's dialect (7.9), rows are converted with the store's ``parse_text_value`` and
saved through ``Org.save`` in chunks of 200, so validation is the same as over REST.

Processing runs on background worker threads. The state a client sees moves on a small clock
(``min_state_seconds``): a job stays ``UploadComplete`` and then ``InProgress`` for at least that
long each, so polling code is exercised even when processing is instantaneous.

Results are written, per internal batch of 10,000 rows, to temporary files in a shuffled order:
clients must correlate result rows by their columns, never by position (7.7).

Fault hook of this module: a fault-plan rule ``{"match": {"path_contains": "/jobs/ingest"},
"fail_job_after_rows": K}`` (optionally with ``"error_message"``) makes every matching job end
``Failed`` after its first K rows, leaving the rest as unprocessed records. The same can be set for
all jobs with the ``fail_job_after_rows`` attribute. A rule with ``"echo_as_parsed": true`` makes
the result files of matching jobs echo typed cells as Salesforce says it does, "as parsed" rather
than byte for byte (7.7): see :func:`_echo_cell`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import decimal
import gzip
import io
import json
import queue
import random
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from . import ids
from .errors import RecordError, RecordErrorException
from .values import parse_text_value
from .wire import JSON_TYPE, render

if TYPE_CHECKING:
    from .faults import FaultPlan
    from .schema import FieldDef, ObjectDef
    from .store import Org

__all__ = ["BulkIngest", "format_sf_error"]

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
DELIMITERS = {
    "COMMA": ",",
    "BACKQUOTE": "`",
    "CARET": "^",
    "PIPE": "|",
    "SEMICOLON": ";",
    "TAB": "\t",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INTERNAL_BATCH = 10_000
DML_CHUNK = 200
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
DELETABLE = frozenset({"UploadComplete", "JobComplete", "Aborted", "Failed"})
# The clock-driven order of the states a client can observe.
_RANK = {"Open": 0, "UploadComplete": 1, "InProgress": 2, "JobComplete": 3, "Failed": 3}

_JSON = {"Content-Type": JSON_TYPE}
_CSV = {"Content-Type": "text/csv"}
_NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
_JOB_ID_RE = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")
_DEFAULT_FAIL_MESSAGE = (
    # Job-level text for the injected failure; real wording for exhausted retries is UNVERIFIED.
    "InternalServerError : Internal batch was retried too many times and the job was stopped"
)

Response = tuple[int, dict[str, str], bytes]


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _json(status: int, body: Any, pretty: bool = False) -> Response:
    return status, dict(_JSON), render(body, pretty=pretty)


def _error(status: int, code: str, message: str, pretty: bool = False) -> Response:
    return _json(status, [{"errorCode": code, "message": message}], pretty)


def format_sf_error(errors: list[RecordError]) -> str:
    """Render record errors as an ``sf__Error`` cell (7.7): ``CODE:message:fields --``.

    Args:
        errors: The record's errors (at least one).

    Returns:
        The cell text. Several errors are joined with a space (joining rule UNVERIFIED, C.6).
    """
    parts = []
    for err in errors:
        fields = ",".join(err.fields)
        parts.append(
            f"{err.status_code}:{err.message}:{fields} --"
            if fields
            else f"{err.status_code}:{err.message}:--"
        )
    return " ".join(parts)


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@dataclass
class _Column:
    """How one uploaded CSV column becomes part of a record."""

    key: str  # record key: field API name, or relationship name for lookups
    field: FieldDef  # the field whose type converts the text
    nested: str | None = None  # external-id field name inside the relationship dict
    type_name: str | None = None  # polymorphic `Type:Rel.Field` target type
    null_key: str | None = None  # key cleared by `#N/A` in a relationship column


@dataclass
class _Job:
    """One ingest job and its processing state; guarded by ``BulkIngest._lock``."""

    id: str
    operation: str
    sobject: ObjectDef
    created_by: str
    created_date: str
    api_version: str
    line_ending: str
    column_delimiter: str
    external_id_field: str | None
    assignment_rule_id: str | None
    state: str = "Open"
    system_modstamp: str = ""
    data: bytes | None = None
    uploaded: bool = False
    closed_at: float = 0.0
    header: list[str] = field(default_factory=list)
    rows_done: int = 0
    processed: int = 0
    failed: int = 0
    retries: int = 0
    total_ms: int = 0
    api_ms: int = 0
    error_message: str | None = None
    stop: bool = False  # abort or delete requested while processing
    worker_done: threading.Event = field(default_factory=threading.Event)
    fail_after: int | None = None
    fail_message: str = _DEFAULT_FAIL_MESSAGE
    echo_as_parsed: bool = False
    success_file: IO[bytes] | None = None
    failed_file: IO[bytes] | None = None

    @property
    def upload_path(self) -> str:
        return f"/services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"

    def close_files(self) -> None:
        for handle in (self.success_file, self.failed_file):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        self.success_file = None
        self.failed_file = None


class _JobFailedError(Exception):
    """A job-level failure: the job ends ``Failed`` with this ``errorMessage``."""


class BulkIngest:
    """The Bulk API 2.0 ingest resource of one emulated org.

    Attributes:
        record_ms: Simulated processing time per record, in milliseconds.
        min_state_seconds: Minimum time a client sees ``UploadComplete`` and then
            ``InProgress`` after closing a job (the polling clock).
        max_upload_bytes: Upload size cap (raw CSV bytes).
        fail_job_after_rows: When set, every job fails after this many rows (see module doc).
        workers: Number of background worker threads.
    """

    def __init__(
        self,
        org: Org,
        faults: FaultPlan | None = None,
        record_ms: float = 0.0,
        *,
        min_state_seconds: float = 0.05,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        workers: int = 2,
    ) -> None:
        """Create the resource and start its worker threads.

        Args:
            org: The org records are saved into.
            faults: The emulator's fault plan, or None.
            record_ms: Simulated processing time per record, in milliseconds.
            min_state_seconds: See the class attributes.
            max_upload_bytes: See the class attributes.
            workers: Number of background worker threads.
        """
        self.org = org
        self.faults = faults
        self.record_ms = record_ms
        self.min_state_seconds = min_state_seconds
        self.max_upload_bytes = max_upload_bytes
        self.fail_job_after_rows: int | None = None
        self.workers = workers
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        for number in range(workers):
            thread = threading.Thread(target=self._work, name=f"bulk-ingest-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # ------------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        """Forget every job (stopping any being processed) and its result files."""
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
            for job in jobs:
                job.stop = True
        for job in jobs:
            if job.state in ("UploadComplete", "InProgress"):
                job.worker_done.wait(timeout=5)
            job.close_files()

    def shutdown(self) -> None:
        """Stop the worker threads and release every job's files."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            for job in self._jobs.values():
                job.stop = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            job.close_files()

    def job_count(self) -> int:
        """Return the number of jobs currently known (for inspection and tests)."""
        with self._lock:
            return len(self._jobs)

    # ------------------------------------------------------------------ routing

    def handle(
        self,
        method: str,
        path_tail: str,
        query: dict[str, list[str]],
        body: bytes,
        headers: Mapping[str, str],
        api_version: str,
        user_id: str,
    ) -> Response:
        """Answer one request under ``/services/data/vXX.X/jobs/ingest``.

        Args:
            method: HTTP method.
            path_tail: Path after ``/jobs/ingest`` (``""``, ``/{id}``, ``/{id}/batches``, ...).
            query: Parsed query string.
            body: Raw request body.
            headers: Request headers.
            api_version: Version from the URL, e.g. ``62.0``.
            user_id: Id of the authenticated user (``createdById``).

        Returns:
            Status, response headers and body bytes.
        """
        pretty = _header(headers, "X-PrettyPrint") == "1"
        parts = [p for p in path_tail.split("/") if p]
        if not parts:
            if method == "POST":
                return self._create(body, api_version, user_id, pretty)
            if method == "GET":
                return self._list(query, api_version, pretty)
            return _method_not_allowed(method, "GET,POST", pretty)
        job_id = parts[0]
        with self._lock:
            job = self._find(job_id)
        if job is None or len(parts) > 2:
            return _json(404, _NOT_FOUND, pretty)
        if len(parts) == 1:
            if method == "GET":
                return _json(200, self._info(job), pretty)
            if method == "PATCH":
                return self._patch(job, body, pretty)
            if method == "DELETE":
                return self._delete(job, pretty)
            return _method_not_allowed(method, "GET,PATCH,DELETE", pretty)
        resource = parts[1]
        if resource == "batches":
            if method != "PUT":
                return _method_not_allowed(method, "PUT", pretty)
            return self._upload(job, body, headers, pretty)
        if resource in ("successfulResults", "failedResults", "unprocessedrecords"):
            if method != "GET":
                return _method_not_allowed(method, "GET", pretty)
            return self._results(job, resource, pretty)
        return _json(404, _NOT_FOUND, pretty)

    def _find(self, job_id: str) -> _Job | None:
        if not _JOB_ID_RE.fullmatch(job_id):
            return None
        canonical = ids.normalize(job_id)
        return self._jobs.get(canonical) if canonical else None

    # ------------------------------------------------------------------ create

    def _create(self, body: bytes, api_version: str, user_id: str, pretty: bool) -> Response:
        try:
            spec = json.loads(body or b"null")
        except ValueError as exc:
            return _error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}", pretty)
        if not isinstance(spec, dict):
            return _error(400, "JSON_PARSER_ERROR", "Expected a JSON object", pretty)

        def invalid_value(prop: str) -> Response:
            value = spec.get(prop)
            shown = "null" if value is None else str(value)
            return _error(
                400,
                "API_ERROR",
                f"Invalid value: '{shown}' supplied for property: '{prop}'",
                pretty,
            )

        operation = spec.get("operation")
        if operation not in OPERATIONS:
            return invalid_value("operation")
        delimiter = spec.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            return invalid_value("columnDelimiter")
        line_ending = spec.get("lineEnding", "LF")
        if line_ending not in LINE_ENDINGS:
            return invalid_value("lineEnding")
        if spec.get("contentType", "CSV") != "CSV":
            return invalid_value("contentType")
        object_name = spec.get("object")
        sobject = self.org.schema.get(object_name) if isinstance(object_name, str) else None
        if sobject is None:
            return _error(
                400, "INVALIDJOB", f"InvalidJob : Unable to find object: {object_name}", pretty
            )
        external_id: str | None = None
        if operation == "upsert":
            given = spec.get("externalIdFieldName")
            if not given:
                return _error(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : External ID was blank for {sobject.name}. An External ID "
                    "must be specified for upsert.",
                    pretty,
                )
            ext_field = sobject.field(str(given))
            if ext_field is None or not (ext_field.external_id or ext_field.type == "id"):
                return _error(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {given} does not match an External ID "
                    f"for {sobject.name}",
                    pretty,
                )
            external_id = ext_field.name
        now = _now_text()
        job = _Job(
            id=ids.new_id("750"),
            operation=operation,
            sobject=sobject,
            created_by=user_id,
            created_date=now,
            system_modstamp=now,
            api_version=api_version,
            line_ending=line_ending,
            column_delimiter=delimiter,
            external_id_field=external_id,
            assignment_rule_id=spec.get("assignmentRuleId"),
        )
        with self._lock:
            self._jobs[job.id] = job
            body_out = self._created(job)
        return _json(200, body_out, pretty)

    # ------------------------------------------------------------------ job bodies

    def _visible_state(self, job: _Job) -> str:
        """The state a client sees: the real one, held back by the polling clock."""
        state = job.state
        if state in ("Open", "Aborted") or job.closed_at == 0.0:
            return state
        elapsed = time.monotonic() - job.closed_at
        if elapsed < self.min_state_seconds:
            return "UploadComplete"
        if elapsed < 2 * self.min_state_seconds and _RANK[state] > _RANK["InProgress"]:
            return "InProgress"
        if state in TERMINAL and not job.worker_done.is_set():
            return "InProgress"  # final counts and result files are being flushed
        return state

    def _head(self, job: _Job, state: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": job.id,
            "operation": job.operation,
            "object": job.sobject.name,
            "createdById": job.created_by,
            "createdDate": job.created_date,
            "systemModstamp": job.system_modstamp,
            "state": state,
        }
        if job.external_id_field is not None:
            out["externalIdFieldName"] = job.external_id_field
        out["concurrencyMode"] = "Parallel"
        out["contentType"] = "CSV"
        out["apiVersion"] = float(job.api_version)
        return out

    def _created(self, job: _Job) -> dict[str, Any]:
        out = self._head(job, job.state)
        out["contentUrl"] = f"services/data/v{job.api_version}/jobs/ingest/{job.id}/batches"
        out["lineEnding"] = job.line_ending
        out["columnDelimiter"] = job.column_delimiter
        if job.assignment_rule_id:
            out["assignmentRuleId"] = job.assignment_rule_id
        return out

    def _info(self, job: _Job) -> dict[str, Any]:
        with self._lock:
            state = self._visible_state(job)
            out = self._head(job, state)
            out["jobType"] = "V2Ingest"
            out["lineEnding"] = job.line_ending
            out["columnDelimiter"] = job.column_delimiter
            queued = state == "UploadComplete"
            out["numberRecordsProcessed"] = 0 if queued else job.processed
            out["numberRecordsFailed"] = 0 if queued else job.failed
            out["retries"] = job.retries
            out["totalProcessingTime"] = 0 if queued else job.total_ms
            out["apiActiveProcessingTime"] = 0 if queued else job.api_ms
            out["apexProcessingTime"] = 0
            if job.assignment_rule_id:
                out["assignmentRuleId"] = job.assignment_rule_id
            if state == "Failed" and job.error_message:
                out["errorMessage"] = job.error_message
        return out

    def _list(self, query: dict[str, list[str]], api_version: str, pretty: bool) -> Response:
        job_type = (query.get("jobType") or [""])[0]
        mode = (query.get("concurrencyMode") or [""])[0]
        pk = (query.get("isPkChunkingEnabled") or [""])[0]
        locator = (query.get("queryLocator") or ["0"])[0]
        start = int(locator) if locator.isdigit() else 0
        with self._lock:
            jobs = list(self._jobs.values())
            if job_type not in ("", "V2Ingest") or mode not in ("", "Parallel") or pk == "true":
                jobs = []
            page = jobs[start : start + 1000]
            records = []
            for job in page:
                summary = self._head(job, self._visible_state(job))
                summary.pop("externalIdFieldName", None)
                summary["jobType"] = "V2Ingest"
                records.append(summary)
        done = start + 1000 >= len(jobs)
        next_url = (
            None
            if done
            else f"/services/data/v{api_version}/jobs/ingest?queryLocator={start + 1000}"
        )
        return _json(200, {"done": done, "records": records, "nextRecordsUrl": next_url}, pretty)

    # ------------------------------------------------------------------ state changes

    def _upload(self, job: _Job, body: bytes, headers: Mapping[str, str], pretty: bool) -> Response:
        # The HTTP server may already have inflated the body; only inflate what is still gzip.
        gzipped = (_header(headers, "Content-Encoding") or "").lower() == "gzip"
        if gzipped and body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return _error(400, "BULK_API_ERROR", "Unable to decompress gzip content", pretty)
        with self._lock:
            if job.state != "Open":
                # Code and text UNVERIFIED (salesforce-api.md 7.3 / C.6).
                return _error(
                    409,
                    "INVALIDJOBSTATE",
                    f"InvalidJobState : Job is not in Open state: {job.state}",
                    pretty,
                )
            if job.uploaded:
                return _error(
                    400,
                    "BULK_API_ERROR",
                    f"Found multipe contents for job: <{job.id[:15]}>, please 'Close' / 'Abort' "
                    "/ 'Delete' the current Job then create a new Job and make sure you only do "
                    "'PUT' once on a given Job.",
                    pretty,
                )
            if len(body) > self.max_upload_bytes:
                # Text UNVERIFIED; the documented cap is 150 MB after base64 (7.3).
                return _error(
                    400,
                    "BULK_API_ERROR",
                    f"Exceeded max size limit of {self.max_upload_bytes} bytes for job data",
                    pretty,
                )
            job.data = body
            job.uploaded = True
            job.system_modstamp = _now_text()
        return 201, {"Content-Type": "text/plain"}, b""

    def _patch(self, job: _Job, body: bytes, pretty: bool) -> Response:
        try:
            spec = json.loads(body or b"null")
        except ValueError as exc:
            return _error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}", pretty)
        wanted = spec.get("state") if isinstance(spec, dict) else None
        if wanted not in ("UploadComplete", "Aborted"):
            shown = "null" if wanted is None else str(wanted)
            return _error(
                400,
                "API_ERROR",
                f"Invalid value: '{shown}' supplied for property: 'state'",
                pretty,
            )
        with self._lock:
            visible = self._visible_state(job)
            if wanted == "UploadComplete":
                if job.state != "Open":
                    return _state_error(job, visible, wanted, pretty)
                job.state = "UploadComplete"
                job.closed_at = time.monotonic()
                job.system_modstamp = _now_text()
                job.fail_after, job.fail_message = self._job_failure(job)
                job.echo_as_parsed = self._echo_rule(job)
                self._queue.put(job)
            else:
                if visible in TERMINAL:
                    return _state_error(job, visible, wanted, pretty)
                job.state = "Aborted"
                job.stop = True
                job.system_modstamp = _now_text()
                if job.closed_at == 0.0:
                    job.worker_done.set()  # never queued: nothing will process it
            out = self._head(job, job.state if wanted == "Aborted" else "UploadComplete")
        return _json(200, out, pretty)

    def _job_failure(self, job: _Job) -> tuple[int | None, str]:
        """Find an injected `fail_job_after_rows` for this job (fault plan, then attribute).

        A rule matches like a record-level rule: against ``PUT`` and the job's upload path.
        """
        for rule in self.faults.rules if self.faults is not None else []:
            raw = rule.raw
            if "fail_job_after_rows" in raw and rule.matches("PUT", job.upload_path):
                message = str(raw.get("error_message") or _DEFAULT_FAIL_MESSAGE)
                return int(raw["fail_job_after_rows"]), message
        return self.fail_job_after_rows, _DEFAULT_FAIL_MESSAGE

    def _echo_rule(self, job: _Job) -> bool:
        """Whether an ``echo_as_parsed`` rule covers this job (matched like the rule above)."""
        rules = self.faults.rules if self.faults is not None else []
        return any(r.raw.get("echo_as_parsed") and r.matches("PUT", job.upload_path) for r in rules)

    def _delete(self, job: _Job, pretty: bool) -> Response:
        with self._lock:
            visible = self._visible_state(job)
            if visible not in DELETABLE:
                # Code and text UNVERIFIED; allowed states per 7.8.
                return _error(
                    409,
                    "INVALIDJOBSTATE",
                    f"InvalidJobState : Deleting a job in the {visible} state is not allowed",
                    pretty,
                )
            job.stop = True
            self._jobs.pop(job.id, None)
        if job.worker_done.is_set() or job.closed_at == 0.0:
            job.close_files()
        # Otherwise the worker closes the files when it notices `stop`.
        return 204, {}, b""

    # ------------------------------------------------------------------ results

    def _results(self, job: _Job, resource: str, pretty: bool) -> Response:
        with self._lock:
            visible = self._visible_state(job)
            ready = visible in ("JobComplete", "Failed") or (
                visible == "Aborted" and (job.worker_done.is_set() or job.closed_at == 0.0)
            )
            if not ready or (visible == "Aborted" and resource != "unprocessedrecords"):
                # Code and text UNVERIFIED (C.6); results exist only for finished jobs (7.7).
                return _error(
                    409,
                    "INVALIDJOBSTATE",
                    f"InvalidJobState : Results are not available for a job in the {visible} state",
                    pretty,
                )
        delimiter = DELIMITERS[job.column_delimiter]
        newline = LINE_ENDINGS[job.line_ending]
        header_cells = delimiter.join(_header_cell(h, delimiter) for h in job.header)
        if resource == "unprocessedrecords":
            return 200, dict(_CSV), self._unprocessed(job, header_cells, delimiter, newline)
        handle = job.success_file if resource == "successfulResults" else job.failed_file
        second = '"sf__Created"' if resource == "successfulResults" else '"sf__Error"'
        head = f'"sf__Id"{delimiter}{second}'
        if job.header:
            head += delimiter + header_cells
        out = bytearray((head + newline).encode("utf-8"))
        if handle is not None:
            with self._lock:
                handle.seek(0)
                out += handle.read()
        return 200, dict(_CSV), bytes(out)

    def _unprocessed(self, job: _Job, header_cells: str, delimiter: str, newline: str) -> bytes:
        """Original columns of the rows never processed (all rows when the job failed early)."""
        if job.data is None:
            return (header_cells + newline).encode("utf-8") if job.header else b""
        lines: list[str] = []
        rows = _rows(job, skip=job.rows_done)
        header = next(rows, None)
        if header is None:
            return b""
        lines.append(delimiter.join(_header_cell(h, delimiter) for h in header))
        lines.extend(delimiter.join(_quote(c) for c in row) for row in rows)
        return (newline.join(lines) + newline).encode("utf-8")

    # ------------------------------------------------------------------ processing

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._process(job)
            except Exception as exc:  # a worker must survive any bad job
                with self._lock:
                    job.state = "Failed"
                    job.error_message = f"InternalServerError : {exc}"
                    job.system_modstamp = _now_text()
            finally:
                job.worker_done.set()
                with self._lock:
                    deleted = job.id not in self._jobs
                if deleted:
                    job.close_files()

    def _process(self, job: _Job) -> None:
        with self._lock:
            if job.stop:
                return
            job.state = "InProgress"
            job.system_modstamp = _now_text()
        started = time.monotonic()
        try:
            self._run(job)
        except _JobFailedError as exc:
            with self._lock:
                if job.state == "InProgress":
                    job.state = "Failed"
                    job.error_message = str(exc)
        with self._lock:
            job.total_ms = max(int((time.monotonic() - started) * 1000), job.api_ms)
            if job.state == "InProgress":
                job.state = "JobComplete"
                job.data = None  # every row processed: no unprocessed records to keep
            job.system_modstamp = _now_text()

    def _run(self, job: _Job) -> None:
        if not job.data:
            # Closing a job without data: outcome UNVERIFIED (7.4); fail it like a bad batch.
            raise _JobFailedError("InvalidBatch : Unable to parse CSV: no data uploaded")
        text = _decode(job.data)
        _check_line_ending(text, job.line_ending)
        reader = _reader(text, job.column_delimiter)
        header = next(reader, None)
        if not header:
            raise _JobFailedError("InvalidBatch : Unable to parse CSV: empty header")
        with self._lock:
            job.header = header
        columns = self._columns(job, header)
        job.success_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives with the job
        job.failed_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives with the job
        limit = job.fail_after
        batch_no = 0
        batch: list[list[str]] = []
        stopped_early = False
        for row in reader:
            if not row:
                continue  # a blank line is not a record
            if limit is not None and job.rows_done + len(batch) >= limit:
                stopped_early = True  # an injected failure: this row and the rest stay unprocessed
                break
            batch.append(row)
            if len(batch) == INTERNAL_BATCH:
                if not self._batch(job, columns, batch, batch_no):
                    return
                batch_no += 1
                batch = []
        if batch and not self._batch(job, columns, batch, batch_no):
            return
        if stopped_early:
            raise _JobFailedError(job.fail_message)

    def _columns(self, job: _Job, header: list[str]) -> list[_Column | None]:
        """Map header names to record keys; an unknown name fails the job (7.5)."""
        schema = self.org.schema
        obj = job.sobject
        columns: list[_Column | None] = []
        deleting = job.operation in ("delete", "hardDelete")
        for name in header:
            type_name: str | None = None
            path = name
            if ":" in name and "." in name:
                type_name, path = name.split(":", 1)
            if "." in path:
                rel, ext = path.split(".", 1)
                ref = obj.by_relationship(rel)
                parent_name = type_name or (ref.reference_to[0] if ref and ref.reference_to else "")
                parent = schema.get(parent_name) if parent_name else None
                if ref and type_name and parent and parent.name not in ref.reference_to:
                    parent = None
                ext_field = parent.field(ext) if parent is not None else None
                if ref is None or parent is None or ext_field is None:
                    raise _JobFailedError(f"InvalidBatch : Field name not found : {name}")
                columns.append(
                    None
                    if deleting
                    else _Column(
                        key=ref.relationship_name or rel,
                        field=ext_field,
                        nested=ext_field.name,
                        type_name=parent.name if type_name else None,
                        null_key=ref.name,
                    )
                )
                continue
            target = obj.field(path)
            if target is None or type_name is not None:
                raise _JobFailedError(f"InvalidBatch : Field name not found : {name}")
            if deleting and target.name != "Id":
                columns.append(None)  # delete files carry only Id; other columns are ignored
                continue
            columns.append(_Column(key=target.name, field=target))
        return columns

    def _batch(
        self, job: _Job, columns: list[_Column | None], rows: list[list[str]], batch_no: int
    ) -> bool:
        """Process one internal batch; False when the job was stopped meanwhile."""
        delimiter = DELIMITERS[job.column_delimiter]
        successes: list[bytes] = []
        failures: list[bytes] = []
        width = len(columns)
        for start in range(0, len(rows), DML_CHUNK):
            if job.stop:
                return False
            chunk = rows[start : start + DML_CHUNK]
            records: list[dict[str, Any]] = []
            positions: list[int] = []
            errors: dict[int, list[RecordError]] = {}
            for index, row in enumerate(chunk):
                try:
                    records.append(_record(columns, row))
                    positions.append(index)
                except RecordErrorException as exc:
                    errors[index] = [exc.error]
            save_started = time.monotonic()
            results = (
                self.org.save(
                    job.operation,
                    job.sobject.name,
                    records,
                    external_id_field=job.external_id_field,
                    fault_path=job.upload_path,
                    fault_method="PUT",
                )
                if records
                else []
            )
            api_ms = (time.monotonic() - save_started) * 1000
            if self.record_ms:
                time.sleep(self.record_ms * len(chunk) / 1000)
            by_index = dict(zip(positions, results, strict=True))
            chunk_failed = 0
            for index, row in enumerate(chunk):
                cells = row if len(row) == width else (row + [""] * width)[:width]
                shown = map(_echo_cell, columns, cells) if job.echo_as_parsed else cells
                echo = delimiter.join(_quote(c) for c in shown)
                result = by_index.get(index)
                if result is not None and result.success:
                    inserted = job.operation == "insert" or (
                        job.operation == "upsert" and bool(result.created)
                    )
                    created = "true" if inserted else "false"
                    line = f'"{result.id or ""}"{delimiter}"{created}"'
                    successes.append(f"{line}{delimiter}{echo}".encode())
                    continue
                chunk_failed += 1
                errs = errors.get(index) or (result.errors if result is not None else [])
                record_id = (result.id if result is not None else None) or _row_id(columns, cells)
                line = f"{_quote(record_id or '')}{delimiter}{_quote(format_sf_error(errs))}"
                failures.append(f"{line}{delimiter}{echo}".encode())
            with self._lock:
                job.rows_done += len(chunk)
                job.processed += len(chunk)
                job.failed += chunk_failed
                job.api_ms += int(api_ms) + 1
        newline = LINE_ENDINGS[job.line_ending].encode()
        # Parallel internal processing scrambles the order; mimic it per batch.
        shuffler = random.Random(f"{job.id}-{batch_no}")
        shuffler.shuffle(successes)
        shuffler.shuffle(failures)
        with self._lock:
            for handle, lines in ((job.success_file, successes), (job.failed_file, failures)):
                if handle is not None and lines:
                    handle.seek(0, io.SEEK_END)
                    handle.write(newline.join(lines) + newline)
        return True


# ---------------------------------------------------------------------- CSV helpers


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def _method_not_allowed(method: str, allowed: str, pretty: bool) -> Response:
    return _error(
        405,
        "METHOD_NOT_ALLOWED",
        f"HTTP Method '{method}' not allowed. Allowed are {allowed}",
        pretty,
    )


def _state_error(job: _Job, visible: str, wanted: str, pretty: bool) -> Response:
    # Code and text UNVERIFIED (C.6: closing/aborting a job in the wrong state).
    return _error(
        409,
        "INVALIDJOBSTATE",
        f"InvalidJobState : Unable to change the state of job {job.id} from {visible} to {wanted}",
        pretty,
    )


def _header_cell(name: str, delimiter: str) -> str:
    """Echo a header name as uploaded, quoting it only when it needs quotes."""
    if delimiter in name or '"' in name or "\n" in name or "\r" in name:
        return _quote(name)
    return name


def _decode(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    # A UTF-8 BOM would otherwise become part of the first header name (C.6: UNVERIFIED).
    return text[1:] if text.startswith("\ufeff") else text


def _check_line_ending(text: str, line_ending: str) -> None:
    """Fail the job when the header row ends with the other line ending (7.9)."""
    end = text.find("\n")
    if end < 0:
        return
    crlf = end > 0 and text[end - 1] == "\r"
    if crlf != (line_ending == "CRLF"):
        raise _JobFailedError(
            "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting "
            f"is {line_ending}"
        )


def _reader(text: str, column_delimiter: str) -> Iterator[list[str]]:
    # RFC 4180 quoting; no trimming (skipinitialspace off); newlines kept inside quotes.
    return csv.reader(
        io.StringIO(text, newline=""),
        delimiter=DELIMITERS[column_delimiter],
        quotechar='"',
        doublequote=True,
        skipinitialspace=False,
        strict=False,
    )


def _rows(job: _Job, skip: int) -> Iterator[list[str]]:
    """Header then the data rows after the first `skip` ones (for unprocessed records)."""
    assert job.data is not None
    reader = _reader(_decode(job.data), job.column_delimiter)
    header = next(reader, None)
    if header is None:
        return
    yield header
    seen = 0
    for row in reader:
        if not row:
            continue
        if seen >= skip:
            yield row
        seen += 1


def _record(columns: list[_Column | None], row: list[str]) -> dict[str, Any]:
    """Build the save payload of one row: empty = absent, ``#N/A`` = null (7.9)."""
    record: dict[str, Any] = {}
    for column, cell in zip(columns, row, strict=False):
        if column is None or cell == "":
            continue
        if column.nested is None:
            record[column.key] = None if cell == "#N/A" else parse_text_value(column.field, cell)
            continue
        if cell == "#N/A":
            record[column.null_key or column.key] = None
            continue
        nested: dict[str, Any] = {}
        if column.type_name:
            nested["attributes"] = {"type": column.type_name}
        nested[column.nested] = parse_text_value(column.field, cell)
        record[column.key] = nested
    return record


def _java_double(value: float) -> str:
    """``Double.toString``: plain from 10^-3 up to 10^7, else ``d.dddE±n``; always a ``.``."""
    if value == 0:
        return "0.0"
    text = repr(float(value))
    if 1e-3 <= abs(value) < 1e7:
        return text  # Python's shortest repr is plain, with a ".", in this range too
    # The shortest repr's digits as d.ddd and its exponent n.
    shortest = decimal.Decimal(text)
    digits = "".join(map(str, shortest.as_tuple().digits)).rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{shortest.adjusted()}"


def _echo_cell(column: _Column | None, cell: str) -> str:
    """A typed cell as parsed and rendered again (``echo_as_parsed``); text as uploaded.

    Numbers come back as Java doubles (``100`` -> ``100.0``, ``912260031`` -> ``9.12260031E8``,
    the example of 7.7), booleans upper-case, datetimes in UTC with ``+0000``, ids with 18
    characters and ``#N/A`` empty. Cells that do not parse are echoed as uploaded.
    """
    if column is None or cell == "":
        return cell
    if cell == "#N/A":
        return ""
    ftype = column.field.type
    try:
        value = parse_text_value(column.field, cell)
    except RecordErrorException:
        return cell
    if ftype in ("int", "long", "double", "currency", "percent"):
        return _java_double(float(value))
    if ftype == "boolean":
        return "TRUE" if value else "FALSE"
    if ftype == "datetime":
        return str(value).replace("Z", "+0000")
    if ftype in ("id", "reference"):
        return ids.normalize(cell) or cell
    return cell


def _row_id(columns: list[_Column | None], cells: list[str]) -> str:
    """The row's own Id cell (for failed update/delete rows), or empty."""
    for column, cell in zip(columns, cells, strict=False):
        if column is not None and column.nested is None and column.key == "Id":
            return ids.normalize(cell) or cell
    return ""
