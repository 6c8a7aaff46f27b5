"""The Bulk API 2.0 ingest job engine: jobs, their states, processing and result files.

Bulk API 2.0 Developer Guide: "Create a Job", "Upload Job Data", "Close or Abort a Job", "Get Job
Info", "Get Information About All Ingest Jobs", "Delete a Job" and the three "Get Job ... Record
Results" pages. Uploaded CSV is read with the job's dialect (bulk_csv.py), rows are converted
with the store's ``parse_text_value`` and saved through ``Org.save`` in chunks of 200, so
validation is the same as over REST. The engine knows nothing of HTTP: responses/bulk.py parses
requests, calls it and renders what it returns; its errors are :class:`BulkJobError` (an
``errorCode`` and a message).

Processing runs on background worker threads. The state a client sees moves on a small clock
(``min_state_seconds``): a job stays ``UploadComplete`` and then ``InProgress`` for at least that
long each, so polling code is exercised even when processing is instantaneous.

Results are written, per internal batch of 10,000 rows, to temporary files in a shuffled order:
clients must correlate result rows by their columns, never by position (Salesforce documents that
results are not in upload order).

Injected faults come in a :class:`JobFaults` when a job is closed: fail the job after its first K
rows (the rest become unprocessed records), echo typed cells "as parsed" in the result files (see
``bulk_csv.echo_cell``), and per-record errors. ``fail_job_after_rows`` makes every job fail after
that many rows when no fault says otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import queue
import random
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

from . import ids
from .bulk_csv import (
    DELIMITERS,
    LINE_ENDINGS,
    Column,
    JobFailedError,
    check_line_ending,
    decode,
    echo_cell,
    format_sf_error,
    header_cell,
    map_columns,
    quote,
    reader,
    row_id,
    rows_after,
    to_record,
)
from .definitions import ObjectDef
from .errors import RecordError, RecordErrorException
from .row_locks import ParentLock, RowLocks
from .store import Org, RecordFault

__all__ = ["BulkIngest", "BulkJobError", "Job", "JobFaults"]

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
RESULT_KINDS = ("successfulResults", "failedResults", "unprocessedrecords")
INTERNAL_BATCH = 10_000
DML_CHUNK = 200
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
DELETABLE = frozenset({"UploadComplete", "JobComplete", "Aborted", "Failed"})
# The clock-driven order of the states a client can observe.
_RANK = {"Open": 0, "UploadComplete": 1, "InProgress": 2, "JobComplete": 3, "Failed": 3}
_JOB_ID_RE = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")
DEFAULT_FAIL_MESSAGE = (
    # Job-level text for the injected failure; the real wording for exhausted retries is not
    # documented by Salesforce; the emulator's choice.
    "InternalServerError : Internal batch was retried too many times and the job was stopped"
)


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class BulkJobError(Exception):
    """A request the engine refuses: Salesforce's ``errorCode`` and message.

    Attributes:
        code: ``INVALIDJOBSTATE`` for a job in the wrong state, else a validation code.
        message: The message text.
    """

    def __init__(self, code: str, message: str) -> None:
        """Store the code and message.

        Args:
            code: errorCode.
            message: message text.
        """
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def invalid_value(prop: str, value: Any) -> BulkJobError:
    """``API_ERROR`` for a job property with a value Salesforce does not accept."""
    shown = "null" if value is None else str(value)
    return BulkJobError("API_ERROR", f"Invalid value: '{shown}' supplied for property: '{prop}'")


@dataclass(frozen=True)
class JobFaults:
    """Injected faults of one job, decided when it is closed.

    Attributes:
        fail_after: Rows after which the job fails; None defers to ``fail_job_after_rows``.
        fail_message: The failed job's ``errorMessage``; None for the default text.
        echo_as_parsed: Echo typed cells as parsed in the result files.
        record_fault: Per-record injected errors, asked once per record saved.
    """

    fail_after: int | None = None
    fail_message: str | None = None
    echo_as_parsed: bool = False
    record_fault: RecordFault | None = None


@dataclass
class Job:
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
    fail_message: str = DEFAULT_FAIL_MESSAGE
    echo_as_parsed: bool = False
    record_fault: RecordFault | None = None
    success_file: IO[bytes] | None = None
    failed_file: IO[bytes] | None = None

    def close_files(self) -> None:
        """Release the result files."""
        for handle in (self.success_file, self.failed_file):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        self.success_file = None
        self.failed_file = None


class BulkIngest:
    """The Bulk API 2.0 ingest jobs of one emulated org.

    Attributes:
        record_ms: Simulated processing time per record, in milliseconds.
        min_state_seconds: Minimum time a client sees ``UploadComplete`` and then
            ``InProgress`` after closing a job (the polling clock).
        max_upload_bytes: Upload size cap (raw CSV bytes).
        fail_job_after_rows: When set, every job fails after this many rows (see module doc).
        workers: Number of background worker threads.
        locks: The lock model: with it on, a job's batches are processed side by side and
            saves lock their parents (see ``_parallel`` and row_locks.py).
        batch_rows: Rows per internal batch (10,000, as in Salesforce; tests may lower it).
    """

    def __init__(
        self,
        org: Org,
        record_ms: float = 0.0,
        *,
        min_state_seconds: float = 0.05,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        workers: int = 2,
        locks: RowLocks | None = None,
    ) -> None:
        """Create the engine and start its worker threads.

        Args:
            org: The org records are saved into.
            record_ms: Simulated processing time per record, in milliseconds.
            min_state_seconds: See the class attributes.
            max_upload_bytes: See the class attributes.
            workers: Number of background worker threads.
            locks: The lock model (row_locks.py); off when None.
        """
        self.org = org
        self.locks = locks if locks is not None else RowLocks()
        self.batch_rows = INTERNAL_BATCH
        self.record_ms = record_ms
        self.min_state_seconds = min_state_seconds
        self.max_upload_bytes = max_upload_bytes
        self.fail_job_after_rows: int | None = None
        self.workers = workers
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
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

    def get(self, job_id: str) -> Job | None:
        """The job with this 15- or 18-character id, or None."""
        if not _JOB_ID_RE.fullmatch(job_id):
            return None
        canonical = ids.normalize(job_id)
        with self._lock:
            return self._jobs.get(canonical) if canonical else None

    # ------------------------------------------------------------------ create

    def create(self, spec: dict[str, Any], api_version: str, user_id: str) -> dict[str, Any]:
        """Create an ``Open`` job ("Create a Job").

        Args:
            spec: The request's job properties.
            api_version: API version of the request, e.g. ``62.0``.
            user_id: Id of the authenticated user (``createdById``).

        Returns:
            The created job's properties.

        Raises:
            BulkJobError: For an invalid property, object or external id field.
        """
        operation = spec.get("operation")
        if operation not in OPERATIONS:
            raise invalid_value("operation", spec.get("operation"))
        delimiter = spec.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            raise invalid_value("columnDelimiter", spec.get("columnDelimiter"))
        line_ending = spec.get("lineEnding", "LF")
        if line_ending not in LINE_ENDINGS:
            raise invalid_value("lineEnding", spec.get("lineEnding"))
        if spec.get("contentType", "CSV") != "CSV":
            raise invalid_value("contentType", spec.get("contentType"))
        object_name = spec.get("object")
        sobject = self.org.schema.get(object_name) if isinstance(object_name, str) else None
        if sobject is None:
            raise BulkJobError("INVALIDJOB", f"InvalidJob : Unable to find object: {object_name}")
        external_id: str | None = None
        if operation == "upsert":
            given = spec.get("externalIdFieldName")
            if not given:
                raise BulkJobError(
                    "INVALIDJOB",
                    f"InvalidJob : External ID was blank for {sobject.name}. An External ID "
                    "must be specified for upsert.",
                )
            ext_field = sobject.field(str(given))
            if ext_field is None or not (ext_field.external_id or ext_field.type == "id"):
                raise BulkJobError(
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {given} does not match an External ID "
                    f"for {sobject.name}",
                )
            external_id = ext_field.name
        rule_id = spec.get("assignmentRuleId")
        if rule_id is not None:
            # Bulk API 2.0 Developer Guide, Create a Job: the rule to run for a Case or a Lead.
            problem = self.org.rule_id_problem(str(rule_id))
            if problem is not None:
                raise BulkJobError(problem.status_code, problem.message)
        now = _now_text()
        job = Job(
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
            return self._created(job)

    # ------------------------------------------------------------------ job bodies

    def _visible_state(self, job: Job) -> str:
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

    def _head(self, job: Job, state: str) -> dict[str, Any]:
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

    def _created(self, job: Job) -> dict[str, Any]:
        out = self._head(job, job.state)
        out["contentUrl"] = f"services/data/v{job.api_version}/jobs/ingest/{job.id}/batches"
        out["lineEnding"] = job.line_ending
        out["columnDelimiter"] = job.column_delimiter
        if job.assignment_rule_id:
            out["assignmentRuleId"] = job.assignment_rule_id
        return out

    def info(self, job: Job) -> dict[str, Any]:
        """The job's properties and counters as a client sees them now ("Get Job Info")."""
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

    def list_jobs(
        self, *, job_type: str, concurrency_mode: str, pk_chunking: str, start: int, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of job summaries ("Get Information About All Ingest Jobs").

        Args:
            job_type: ``jobType`` filter ("" for any).
            concurrency_mode: ``concurrencyMode`` filter ("" for any).
            pk_chunking: ``isPkChunkingEnabled`` filter ("" for any).
            start: Index of the first job of the page.
            size: Page size.

        Returns:
            (the page's summaries, the number of jobs the filters keep).
        """
        with self._lock:
            jobs = list(self._jobs.values())
            wanted = job_type in ("", "V2Ingest") and concurrency_mode in ("", "Parallel")
            if not wanted or pk_chunking == "true":
                jobs = []
            records = []
            for job in jobs[start : start + size]:
                summary = self._head(job, self._visible_state(job))
                summary.pop("externalIdFieldName", None)
                summary["jobType"] = "V2Ingest"
                records.append(summary)
        return records, len(jobs)

    # ------------------------------------------------------------------ state changes

    def upload(self, job: Job, data: bytes) -> None:
        """Store the job's CSV data ("Upload Job Data"; one upload per job).

        Raises:
            BulkJobError: When the job is not ``Open``, already has data or the data is too big.
        """
        with self._lock:
            if job.state != "Open":
                # Code and text not documented by Salesforce; the emulator's choice.
                raise BulkJobError(
                    "INVALIDJOBSTATE", f"InvalidJobState : Job is not in Open state: {job.state}"
                )
            if job.uploaded:
                raise BulkJobError(
                    "BULK_API_ERROR",
                    f"Found multipe contents for job: <{job.id[:15]}>, please 'Close' / 'Abort' "
                    "/ 'Delete' the current Job then create a new Job and make sure you only do "
                    "'PUT' once on a given Job.",
                )
            if len(data) > self.max_upload_bytes:
                # Text not documented by Salesforce (the emulator's choice); the documented cap
                # is 150 MB after base64 ("Upload Job Data").
                raise BulkJobError(
                    "BULK_API_ERROR",
                    f"Exceeded max size limit of {self.max_upload_bytes} bytes for job data",
                )
            job.data = data
            job.uploaded = True
            job.system_modstamp = _now_text()

    def close(self, job: Job, faults: JobFaults) -> dict[str, Any]:
        """Mark the upload complete and queue the job for processing ("Close or Abort a Job").

        Args:
            job: The job.
            faults: Injected faults for its processing.

        Returns:
            The job's short properties, with state ``UploadComplete``.

        Raises:
            BulkJobError: When the job is not ``Open``.
        """
        with self._lock:
            visible = self._visible_state(job)
            if job.state != "Open":
                raise _state_error(job, visible, "UploadComplete")
            job.state = "UploadComplete"
            job.closed_at = time.monotonic()
            job.system_modstamp = _now_text()
            job.fail_after = (
                faults.fail_after if faults.fail_after is not None else self.fail_job_after_rows
            )
            job.fail_message = faults.fail_message or DEFAULT_FAIL_MESSAGE
            job.echo_as_parsed = faults.echo_as_parsed
            job.record_fault = faults.record_fault
            self._queue.put(job)
            return self._head(job, "UploadComplete")

    def abort(self, job: Job) -> dict[str, Any]:
        """Abort a job that has not finished ("Close or Abort a Job").

        Returns:
            The job's short properties, with state ``Aborted``.

        Raises:
            BulkJobError: When the job already finished.
        """
        with self._lock:
            visible = self._visible_state(job)
            if visible in TERMINAL:
                raise _state_error(job, visible, "Aborted")
            job.state = "Aborted"
            job.stop = True
            job.system_modstamp = _now_text()
            if job.closed_at == 0.0:
                job.worker_done.set()  # never queued: nothing will process it
            return self._head(job, job.state)

    def delete(self, job: Job) -> None:
        """Delete a job, its data and results ("Delete a Job").

        Raises:
            BulkJobError: In a state that does not allow deleting.
        """
        with self._lock:
            visible = self._visible_state(job)
            if visible not in DELETABLE:
                # Code and text not documented by Salesforce (the emulator's choice); the
                # allowed states are documented ("Delete a Job").
                raise BulkJobError(
                    "INVALIDJOBSTATE",
                    f"InvalidJobState : Deleting a job in the {visible} state is not allowed",
                )
            job.stop = True
            self._jobs.pop(job.id, None)
        if job.worker_done.is_set() or job.closed_at == 0.0:
            job.close_files()
        # Otherwise the worker closes the files when it notices `stop`.

    # ------------------------------------------------------------------ results

    def results(self, job: Job, kind: str) -> bytes:
        """A result file: ``successfulResults``, ``failedResults`` or ``unprocessedrecords``.

        Raises:
            BulkJobError: When the job has no results yet.
        """
        with self._lock:
            visible = self._visible_state(job)
            ready = visible in ("JobComplete", "Failed") or (
                visible == "Aborted" and (job.worker_done.is_set() or job.closed_at == 0.0)
            )
            if not ready or (visible == "Aborted" and kind != "unprocessedrecords"):
                # Code and text not documented by Salesforce (the emulator's choice); results
                # exist only for finished jobs.
                raise BulkJobError(
                    "INVALIDJOBSTATE",
                    f"InvalidJobState : Results are not available for a job in the {visible} state",
                )
        delimiter = DELIMITERS[job.column_delimiter]
        newline = LINE_ENDINGS[job.line_ending]
        header_cells = delimiter.join(header_cell(h, delimiter) for h in job.header)
        if kind == "unprocessedrecords":
            return self._unprocessed(job, header_cells, delimiter, newline)
        handle = job.success_file if kind == "successfulResults" else job.failed_file
        second = '"sf__Created"' if kind == "successfulResults" else '"sf__Error"'
        head = f'"sf__Id"{delimiter}{second}'
        if job.header:
            head += delimiter + header_cells
        out = bytearray((head + newline).encode("utf-8"))
        if handle is not None:
            with self._lock:
                handle.seek(0)
                out += handle.read()
        return bytes(out)

    def _unprocessed(self, job: Job, header_cells: str, delimiter: str, newline: str) -> bytes:
        """Original columns of the rows never processed (all rows when the job failed early)."""
        if job.data is None:
            return (header_cells + newline).encode("utf-8") if job.header else b""
        lines: list[str] = []
        rows = rows_after(job.data, job.column_delimiter, skip=job.rows_done)
        header = next(rows, None)
        if header is None:
            return b""
        lines.append(delimiter.join(header_cell(h, delimiter) for h in header))
        lines.extend(delimiter.join(quote(c) for c in row) for row in rows)
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

    def _process(self, job: Job) -> None:
        with self._lock:
            if job.stop:
                return
            job.state = "InProgress"
            job.system_modstamp = _now_text()
        started = time.monotonic()
        try:
            self._run(job)
        except JobFailedError as exc:
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

    def _run(self, job: Job) -> None:
        if not job.data:
            # What closing a job without data does is not documented by Salesforce (the
            # emulator's choice): fail it like a bad batch.
            raise JobFailedError("InvalidBatch : Unable to parse CSV: no data uploaded")
        text = decode(job.data)
        check_line_ending(text, job.line_ending)
        rows = reader(text, job.column_delimiter)
        header = next(rows, None)
        if not header:
            raise JobFailedError("InvalidBatch : Unable to parse CSV: empty header")
        with self._lock:
            job.header = header
        columns = map_columns(self.org.schema, job.sobject, job.operation, header)
        job.success_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives with the job
        job.failed_file = tempfile.TemporaryFile()  # noqa: SIM115 - lives with the job
        limit = job.fail_after
        batch_no = 0
        batch: list[list[str]] = []
        # The lock model processes a job's batches side by side: they are gathered first.
        gathered: list[list[str]] | None = [] if self.locks.enabled else None
        stopped_early = False
        for row in rows:
            if not row:
                continue  # a blank line is not a record
            taken = len(gathered) if gathered is not None else job.rows_done + len(batch)
            if limit is not None and taken >= limit:
                stopped_early = True  # an injected failure: this row and the rest stay unprocessed
                break
            if gathered is not None:
                gathered.append(row)
                continue
            batch.append(row)
            if len(batch) == self.batch_rows:
                if not self._batch(job, columns, batch, batch_no):
                    return
                batch_no += 1
                batch = []
        if gathered is not None:
            if not self._parallel(job, columns, gathered):
                return
        elif batch and not self._batch(job, columns, batch, batch_no):
            return
        if stopped_early:
            raise JobFailedError(job.fail_message)

    def _batch(
        self, job: Job, columns: list[Column | None], rows: list[list[str]], batch_no: int
    ) -> bool:
        """Process one internal batch; False when the job was stopped meanwhile."""
        successes: list[bytes] = []
        failures: list[bytes] = []
        for start in range(0, len(rows), DML_CHUNK):
            if job.stop:
                return False
            chunk = rows[start : start + DML_CHUNK]
            self._chunk(job, columns, chunk, None, successes, failures)
            self._pace(len(chunk))
        self._write_results(job, batch_no, successes, failures)
        return True

    def _parallel(self, job: Job, columns: list[Column | None], rows: list[list[str]]) -> bool:
        """The lock model: process the job's batches in parallel; False when it was stopped.

        Salesforce processes a job's 10,000-record batches in parallel, 200 records at a time
        (Bulk API 2.0 and Bulk API Developer Guide, How Requests Are Processed). Here every
        batch saves its n-th chunk in step n, each chunk its own transaction; a step's
        transactions stay open together for its paced time, so batches of this job (a lower
        batch wins, deterministically) and of jobs processed meanwhile contend for parents.
        A job stopped part-way reports the rows after the first batch's progress as
        unprocessed, although later batches saved some of them (the emulator's choice).
        """
        batches = [rows[i : i + self.batch_rows] for i in range(0, len(rows), self.batch_rows)]
        outputs: list[tuple[list[bytes], list[bytes]]] = [([], []) for _ in batches]
        for start in range(0, max((len(b) for b in batches), default=0), DML_CHUNK):
            if job.stop:
                return False
            longest = 0
            with contextlib.ExitStack() as step:
                for batch, (successes, failures) in zip(batches, outputs, strict=True):
                    chunk = batch[start : start + DML_CHUNK]
                    if chunk:
                        lock = step.enter_context(self.locks.transaction())
                        self._chunk(job, columns, chunk, lock, successes, failures)
                        longest = max(longest, len(chunk))
                self._pace(longest)  # the step's chunks run side by side
        for batch_no, (successes, failures) in enumerate(outputs):
            self._write_results(job, batch_no, successes, failures)
        return True

    def _pace(self, records: int) -> None:
        """Simulated processing time (``record_ms``) of ``records`` records."""
        if self.record_ms:
            time.sleep(self.record_ms * records / 1000)

    def _chunk(
        self,
        job: Job,
        columns: list[Column | None],
        chunk: list[list[str]],
        parent_lock: ParentLock | None,
        successes: list[bytes],
        failures: list[bytes],
    ) -> None:
        """Save one chunk of rows; add their result lines to ``successes`` and ``failures``."""
        delimiter = DELIMITERS[job.column_delimiter]
        width = len(columns)
        records: list[dict[str, Any]] = []
        positions: list[int] = []
        errors: dict[int, list[RecordError]] = {}
        for index, row in enumerate(chunk):
            try:
                records.append(to_record(columns, row))
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
                record_fault=job.record_fault,
                # With no assignmentRuleId no rule runs (not documented by Salesforce; the
                # emulator's choice).
                assignment=job.assignment_rule_id,
                parent_lock=parent_lock,
            )
            if records
            else []
        )
        api_ms = (time.monotonic() - save_started) * 1000
        by_index = dict(zip(positions, results, strict=True))
        chunk_failed = 0
        for index, row in enumerate(chunk):
            cells = row if len(row) == width else (row + [""] * width)[:width]
            shown = map(echo_cell, columns, cells) if job.echo_as_parsed else cells
            echo = delimiter.join(quote(c) for c in shown)
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
            record_id = (result.id if result is not None else None) or row_id(columns, cells)
            line = f"{quote(record_id or '')}{delimiter}{quote(format_sf_error(errs))}"
            failures.append(f"{line}{delimiter}{echo}".encode())
        with self._lock:
            job.rows_done += len(chunk)
            job.processed += len(chunk)
            job.failed += chunk_failed
            job.api_ms += int(api_ms) + 1

    def _write_results(
        self, job: Job, batch_no: int, successes: list[bytes], failures: list[bytes]
    ) -> None:
        """Append one batch's result lines to the job's result files, shuffled."""
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


def _state_error(job: Job, visible: str, wanted: str) -> BulkJobError:
    # Code and text not documented by Salesforce; the emulator's choice (closing or aborting a
    # job in the wrong state).
    return BulkJobError(
        "INVALIDJOBSTATE",
        f"InvalidJobState : Unable to change the state of job {job.id} from {visible} to {wanted}",
    )
