"""Bulk sink: Bulk API 2.0 ingest jobs, with every input row's outcome read back and reported.

Records are converted as they arrive and written straight to the current job's CSV file, with
an on-disk index of the original records (see :mod:`.bulk_csv`), so memory stays flat. A job is
cut when it reaches the record cap (``batch_size``, if set) or the byte cap
(:attr:`BulkSink.max_job_bytes`, under the 100 MB raw upload limit), or when a key repeats (one
job must not hold a key twice: its rows run in parallel and results could not be told apart).
Finished files are handed to the shared pool, up to ``max_concurrency`` jobs in flight; a job
holding a key that an unfinished job also holds waits for that job first, so the last write for
a key lands last.

Each job: create, upload, close, poll with backoff, then read successfulResults, failedResults
and unprocessedrecords, match every result row to its input record (by the key column, or by
every cell: see :mod:`.bulk_csv`), count, dead-letter the failures with the job id, and
dead-letter any input row that no result mentions. An answer lost on the upload or the close is
settled from the job's state, and a download cut off is fetched again (see :mod:`.bulk_job`);
neither aborts the job. Rows that
failed with a transient error (a row lock) go again in a new job, a bounded number of times.
Finished jobs are not deleted: that would cost one more call per job, and keeping them lets
the job ids in the report be looked up in Setup until Salesforce purges them after 7 days.

The Target waits for :meth:`BulkSink.wait_for_jobs` before it writes STATE, so STATE covers a
record only once its job is terminal and its results are processed. An interrupted or failed
run calls :meth:`BulkSink.abort_open_jobs`.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from target_salesforce_out.errors import (
    ConfigError,
    ErrorDetail,
    RecordsFailedError,
    SalesforceOutError,
)
from target_salesforce_out.reporting import NOT_SENT, OUTCOME_UNKNOWN, RECORD_ENCODER
from target_salesforce_out.sinks import bulk_job
from target_salesforce_out.sinks.base import Item, SalesforceSink
from target_salesforce_out.sinks.bulk_csv import (
    INDEX_BLOCK_ROWS,
    MAX_RECORD_CHARS,
    JobFile,
    RowFormat,
    UnsendableValueError,
    column_kind,
    parse_sf_error,
)
from target_salesforce_out.sinks.rest import RECORD_RETRIES, RECORD_RETRY_BASE_SECONDS, is_retryable
from target_salesforce_out.soql import key_of

LOGGER = logging.getLogger("target_salesforce_out.bulk")
T = TypeVar("T")
_WIRE_OPERATIONS = {"hard_delete": "hardDelete"}


# Reported for a job whose abort the org refused on a hard stop (it had already ended).
ABORT_REFUSED = "AbortRefused"
# Records as stored in a job's index: the dead-letter file's encoding, with Decimals read back
# as Decimal, so a record rejected from a job is written exactly as one rejected over REST.
_RECORD_ENCODER = RECORD_ENCODER


def _stored_record(record_json: bytes) -> dict[str, Any]:
    """A record as :data:`_RECORD_ENCODER` stored it."""
    record: dict[str, Any] = json.loads(record_json, parse_float=Decimal)
    return record


def _blocks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    block: list[T] = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


class BulkSink(SalesforceSink):
    """Loads a stream through Bulk API 2.0 ingest jobs."""

    # Raw CSV bytes per job: the upload limit is 150 MB after base64, about 100 MB raw (Bulk API 2.0
    # Developer Guide, Upload Job Data).
    max_job_bytes: ClassVar[int] = 90_000_000
    # Records per SOQL lookup when update/delete rows need their Id found by external id.
    lookup_rows: ClassVar[int] = 2_000
    poll_first_seconds: ClassVar[float] = 0.2
    poll_max_seconds: ClassVar[float] = 10.0
    job_timeout_seconds: ClassVar[float] = 6 * 3600.0
    # Rows wait in job files on disk, not in memory (see account_unfinished).
    tracks_in_memory = False

    def __init__(
        self,
        target: Any,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        """Fix the job's operation and CSV header; create the temporary directory."""
        super().__init__(target, stream_name, schema, key_properties)
        if self.mapper.match_columns:
            raise ConfigError(
                f"stream {stream_name!r}: match_fields is not supported with api: bulk; set "
                "external_id_field (an external id field, or Id), or use api: rest"
            )
        op = self.settings.operation
        key = self.mapper.key_column
        self._operation = _WIRE_OPERATIONS.get(op, op)
        self._external_id: str | None = None
        if op == "upsert" and key is not None:
            self._external_id = key.name
        elif op == "upsert":
            # Upsert by Id without an Id property: every record is new (as over REST).
            self._operation = "insert"
        self._format = self._row_format()
        self._lookup_key = self.key_name() if self._needs_lookup() else None
        # Without batch_size, jobs are cut by bytes: as large as the upload limit allows.
        self._job_rows = self.settings.effective_batch_size
        self._tmp = tempfile.TemporaryDirectory(
            prefix="target-salesforce-out-bulk-", ignore_cleanup_errors=True
        )
        self._dir = Path(self._tmp.name)
        self._seq = 0
        self._current: JobFile | None = None
        self._pending: list[Item] = []
        # Rows converted but not yet written to a job file: (correlation key, record, line).
        self._staged: list[tuple[str, bytes, bytes]] = []
        self._inflight: deque[tuple[int, Future[None]]] = deque()
        self._keys: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._open_jobs: set[str] = set()
        self._abort_refused: set[str] = set()
        self._stop = threading.Event()
        # Job files handed to the pool whose rows are not all accounted for yet, by seq.
        self._unsettled: dict[int, JobFile] = {}

    # -- setup -------------------------------------------------------------------------

    def _needs_lookup(self) -> bool:
        """Rows whose Id (or existence, in a dry run) must be found with SOQL first."""
        if self._operation == "insert":
            return False
        if self.runtime.dry_run:
            return self.key_name() is not None
        return self._operation != "upsert" and self.key_name() != "Id"

    def _row_format(self) -> RowFormat:
        columns = self.mapper.columns
        if self._operation in {"delete", "hardDelete"}:
            return RowFormat(("Id",), key="Id", kinds=("id",))
        header = [c.name for c in columns]
        if self._operation == "update" and "Id" not in header:
            header.append("Id")  # resolved from the external id before the row is written
        aliases = {
            c.field.name: c.name
            for c in columns
            if c.parent_field is not None and c.field.name not in header
        }
        key = "Id" if self._operation == "update" else self._external_id
        if self._operation == "upsert" and key is None:
            key = "Id"
        # A relationship column holds the parent's field (its external id), compared as such.
        kinds = [column_kind((c.parent_field or c.field).type) for c in columns]
        kinds += ["id"] * (len(header) - len(kinds))
        return RowFormat(tuple(header), aliases, key=key, kinds=tuple(kinds))

    # -- singer-sdk hooks ------------------------------------------------------------------

    @property
    def max_size(self) -> int:
        """Records per job."""
        return self._job_rows

    @property
    def is_full(self) -> bool:
        """Drain when the current job reaches its record or byte cap."""
        job = self._current
        rows = len(self._staged) + (job.rows if job is not None else 0)
        return rows >= self._job_rows or (job is not None and job.bytes >= self.max_job_bytes)

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Check and convert one record, then write it to the current job's file."""
        scratch: dict[str, Any] = {}
        super().process_record(record, scratch)
        items: list[Item] = scratch.get("items") or []
        if not items:
            return  # rejected locally, already dead-lettered
        if self._lookup_key is not None:
            self._pending.append(items[0])
            if len(self._pending) >= self.lookup_rows:
                self._flush_pending()
        elif self.runtime.dry_run:
            if self._cells(*items[0]) is not None:
                self.runtime.report.add(self.stream_name, would_create=1)
        else:
            self._add(*items[0])

    def process_batch(self, context: dict[str, Any]) -> None:
        """Hand the current job to the pool; apply ``on_record_error`` to local rejections."""
        self._flush_pending()
        self._cut()
        with self._failures_lock:
            failed, self._batch_failures = self._batch_failures, 0
        if failed and self.runtime.on_record_error == "fail":
            self.wait_for_jobs()  # finish the batch first; a job's own error wins
            raise RecordsFailedError(
                f"stream {self.stream_name!r}: {failed} record(s) rejected in this batch "
                "(on_record_error is fail); see the dead-letter file and the run report"
            )

    def clean_up(self) -> None:
        """Delete the temporary files."""
        super().clean_up()
        if self._keys is not None:
            self._keys.close()
            self._keys = None
        self._tmp.cleanup()

    def write_batch(self, items: list[Item]) -> None:
        """Write ``items`` to job files (update/delete rows get their Id found first)."""
        if self._lookup_key is not None:
            try:
                items = self.with_ids(items, self._lookup_key)
            except BaseException:
                # The lookup failed before any row was decided: they stay pending, and
                # account_unfinished reports them if the run ends here.
                self._pending = items + self._pending
                raise
        for record, fields in items:
            self._add(record, fields)

    def dry_run_batch(self, items: list[Item]) -> None:
        """Count would-be creates/updates/deletes; a SOQL lookup tells create from update."""
        op, stream, key = self.settings.operation, self.stream_name, self.key_name()
        items = [item for item in items if self._cells(*item) is not None]
        if self._operation == "insert" or key is None:
            self.runtime.report.add(stream, would_create=len(items))
            return
        found = self.existing(items, key)
        for record, fields in items:
            value = fields.get(key)
            exists = value is not None and key_of(value, is_id=key == "Id") in found
            if op == "upsert":
                self.runtime.report.add(stream, **{"would_update" if exists else "would_create": 1})
            elif not exists:
                self.reject(
                    record,
                    ErrorDetail("NOT_FOUND", f"no {self.obj.name} has {key}={value!r}", (key,)),
                    source="dry_run",
                )
            else:
                self.runtime.report.add(
                    stream, **{"would_update" if op == "update" else "would_delete": 1}
                )

    # -- jobs in flight ----------------------------------------------------------------------

    def wait_for_jobs(self) -> None:
        """Wait for every job this sink started; raise the first error once all are done."""
        first: BaseException | None = None
        while self._inflight:
            _, future = self._inflight.popleft()
            error = future.exception()
            if error is not None and first is None:
                first = error
        if first is not None:
            raise first

    def abort_open_jobs(self) -> None:
        """Abort every job not yet terminal and start no more (the run is stopping)."""
        # Abort before waking the pollers, so each reports what the org said to its abort;
        # then once more for any job created in between.
        with self._lock:
            first = set(self._open_jobs)
        self._abort(first)
        self._stop.set()
        with self._lock:
            late = self._open_jobs - first
        self._abort(late)

    def _abort(self, job_ids: set[str]) -> None:
        for job_id in sorted(job_ids):
            if not bulk_job.abort_quietly(self.runtime.client, job_id):
                with self._lock:
                    self._abort_refused.add(job_id)

    # -- writing rows ------------------------------------------------------------------------

    def _flush_pending(self) -> None:
        items, self._pending = self._pending, []
        if not items:
            return
        if self.runtime.dry_run:
            self.dry_run_batch(items)
        else:
            self.write_batch(items)

    def _cells(self, record: dict[str, Any], fields: dict[str, Any]) -> list[str] | None:
        """The record's CSV cells, or None after rejecting a record Bulk cannot carry."""
        fmt = self._format
        try:
            cells = fmt.cells(fields)
        except UnsendableValueError as exc:
            self.reject(record, self._unsendable(record, exc.column), source="target")
            return None
        if fmt.key_index is not None and fmt.key_value(cells) is None:
            if self._key_required():
                self.reject(record, self.no_key(fmt.key or "", record), source="target")
                return None
            # Upsert by Id without an Id: a new record, as a Collections upsert of a record
            # with no Id. The cell is left empty (no value) rather than #N/A, which would ask
            # Salesforce to set the matching field itself to null.
            cells[fmt.key_index] = ""
        size = sum(len(c) for c in cells)
        if size > MAX_RECORD_CHARS:
            text = f"{size} characters; Bulk API takes at most {MAX_RECORD_CHARS} per record"
            detail = ErrorDetail("RECORD_TOO_LARGE", self.message(record, text))
            self.reject(record, detail, source="target")
            return None
        return cells

    def _add(self, record: dict[str, Any], fields: dict[str, Any]) -> None:
        """Stage one row for the current job; staged rows are written in blocks."""
        fmt = self._format
        cells = self._cells(record, fields)
        if cells is None:
            return
        # The record is kept (in the job's index) to dead-letter it if Salesforce rejects
        # it; msgspec encodes it about ten times faster than json.dumps with a default hook.
        self._staged.append(
            (fmt.correlation_key(cells), _RECORD_ENCODER.encode(record), fmt.line(cells).encode())
        )
        if len(self._staged) >= INDEX_BLOCK_ROWS:
            self._write_staged()

    def _write_staged(self) -> None:
        """Write the staged rows to job files, cutting jobs where they must be cut.

        A job is cut before a row that would pass the byte cap, and before a key the job
        already holds; a job holding a key that an unfinished job also holds waits for that
        job first. Which job last took each key is in a SQLite table (flat memory), read
        and written once per block of rows rather than once per row.
        """
        staged, self._staged = self._staged, []
        if not staged:
            return
        seqs = self._key_seqs([key for key, _, _ in staged if key.startswith("k:")])
        for key, record_json, line in staged:
            job = self._current
            if job is not None and job.bytes + len(line) > self.max_job_bytes:
                self._submit_current()
            if key.startswith("k:"):
                seq = seqs.get(key)
                if seq is not None:
                    if self._current is not None and self._current.seq == seq:
                        self._submit_current()
                    if any(s == seq and not f.done() for s, f in self._inflight):
                        self._current_job().barrier = True
                seqs[key] = self._current_job().seq
            self._current_job().add(key, record_json, line)
        if seqs and self._keys is not None:
            self._keys.executemany(
                "INSERT OR REPLACE INTO keys (key, seq) VALUES (?, ?)", seqs.items()
            )

    def _key_seqs(self, keys: list[str]) -> dict[str, int]:
        """The job each of ``keys`` was last written to, for those already written."""
        if not keys:
            return {}
        if self._keys is None:
            # Used by one thread at a time: the reader, or a drain thread at a batch's end.
            self._keys = sqlite3.connect(self._dir / "keys.db", check_same_thread=False)
            self._keys.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                "CREATE TABLE keys (key TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;"
            )
        unique = list(dict.fromkeys(keys))
        marks = ",".join("?" * len(unique))
        query = f"SELECT key, seq FROM keys WHERE key IN ({marks})"  # noqa: S608
        return {str(key): int(seq) for key, seq in self._keys.execute(query, unique)}

    def _key_required(self) -> bool:
        # Upsert by Id without a value creates a record; every other keyed row needs its key.
        return not (self._operation == "upsert" and self._format.key == "Id")

    def _current_job(self) -> JobFile:
        if self._current is None:
            self._current = JobFile(self._dir, self._next_seq(), self._format.header)
        return self._current

    def _cut(self) -> None:
        """Write the staged rows, then submit the current job file."""
        self._write_staged()
        self._submit_current()

    def _submit_current(self) -> None:
        """Submit the current job file, if it has rows."""
        job, self._current = self._current, None
        if job is None:
            return
        job.finish()
        if job.rows == 0:
            job.remove()
            return
        if self._keys is not None:
            self._keys.commit()
        with self._lock:
            self._unsettled[job.seq] = job  # from here on, account_unfinished answers for it
        if self._stop.is_set():
            raise bulk_job.BulkJobAbortedError(
                "", "Aborted", "", f"stream {self.stream_name!r}: the run is stopping"
            )
        self._flush_parents()
        if job.barrier:
            self.wait_for_jobs()
        while len(self._inflight) >= self.runtime.max_concurrency:
            _, oldest = self._inflight.popleft()
            oldest.result()
        self._inflight.append((job.seq, self.runtime.submit(self._run_job, job, 0)))

    def _flush_parents(self) -> None:
        """Load the pending records of referenced streams first, and wait for their jobs."""
        self.flush_parents()
        for sink in self.runtime.active_sinks():
            parent = sink is not self and sink.obj.name.lower() in self.parents
            if parent and isinstance(sink, BulkSink):
                sink.wait_for_jobs()

    # -- one job, on a pool thread ------------------------------------------------------------

    def _run_job(self, job: JobFile, attempt: int) -> None:
        """Load one job file and account for each of its rows; retry transient row failures."""
        with self._lock:
            self._unsettled[job.seq] = job
        try:
            outcome = self._load(job, attempt)
        except BaseException as exc:
            self._settle_job(job, str(exc))
            raise
        finally:
            job.remove()
            with self._lock:
                self._unsettled.pop(job.seq, None)
        retry, failed, info = outcome
        if info.get("state") == "Failed":
            message = str(info.get("errorMessage") or "no errorMessage given")
            raise bulk_job.BulkJobFailedError(
                str(info["id"]),
                "Failed",
                message,
                f"stream {self.stream_name!r}: Bulk job {info['id']} failed: {message}; its "
                "unprocessed records are in the dead-letter file",
            )
        if retry is not None:
            self.runtime.report.add(self.stream_name, retried=retry.rows)
            delay = RECORD_RETRY_BASE_SECONDS * 2**attempt
            if self._stop.wait(random.uniform(delay / 2, delay)):
                self._settle_job(retry, "the run stopped before they were sent again")
                retry.remove()
                raise bulk_job.BulkJobAbortedError(
                    "", "Aborted", "", f"stream {self.stream_name!r}: the run is stopping"
                )
            self._run_job(retry, attempt + 1)
        if failed and self.runtime.on_record_error == "fail":
            raise RecordsFailedError(
                f"stream {self.stream_name!r}: {failed} record(s) failed in Bulk job "
                f"{info['id']} (on_record_error is fail); see the dead-letter file"
            )

    def _load(self, job: JobFile, attempt: int) -> tuple[JobFile | None, int, dict[str, Any]]:
        """Create, upload, close and wait for one job; then process its results."""
        client = self.runtime.client
        created = bulk_job.create_job(client, self.obj.name, self._operation, self._external_id)
        job_id = str(created["id"])
        with self._lock:
            self._open_jobs.add(job_id)
        try:
            if self._stop.is_set():
                bulk_job.abort_quietly(client, job_id)
                raise bulk_job.BulkJobAbortedError(
                    job_id, "Aborted", "", f"Bulk job {job_id} aborted: the run is stopping"
                )
            # A lost answer to the upload or the close is settled from the job's state, not
            # by aborting the job (see bulk_job).
            state = bulk_job.upload(client, job_id, job.csv_path)
            if attempt == 0:
                self.runtime.report.add(self.stream_name, sent=job.rows)
            # From the close on, Salesforce may process the rows whatever happens to us.
            job.closed = True
            if state == "Open":
                bulk_job.close(client, job_id)
            self.runtime.report.set_job_state(self.stream_name, job_id, "UploadComplete")
            info = bulk_job.wait_for_terminal(
                client,
                job_id,
                stop=self._stop,
                first_delay=self.poll_first_seconds,
                max_delay=self.poll_max_seconds,
                timeout=self.job_timeout_seconds,
                on_state=lambda state: self.runtime.report.set_job_state(
                    self.stream_name, job_id, state
                ),
            )
        except bulk_job.BulkJobError as exc:
            with self._lock:
                refused = job_id in self._abort_refused
            # An abort the org refused means the job had already ended; its results are not
            # read on a hard stop, so say that rather than "Aborted".
            self._record_job(job_id, ABORT_REFUSED if refused else exc.state, job.rows, attempt, {})
            raise
        except SalesforceOutError:
            # The job cannot be finished (e.g. the upload was refused): do not leave it open.
            aborted = bulk_job.abort_quietly(client, job_id)
            self._record_job(job_id, "Aborted" if aborted else ABORT_REFUSED, job.rows, attempt, {})
            raise
        finally:
            with self._lock:
                self._open_jobs.discard(job_id)
            self.runtime.report.forget_job(self.stream_name, job_id)
        if info.get("state") == "Aborted":
            self._record_job(job_id, "Aborted", job.rows, attempt, info)
            raise bulk_job.BulkJobAbortedError(
                job_id,
                "Aborted",
                str(info.get("errorMessage") or ""),
                f"stream {self.stream_name!r}: Bulk job {job_id} was aborted in the org; "
                "which of its records were written is unknown, so none is confirmed",
            )
        return self._results(job, job_id, attempt, info)

    def _results(
        self, job: JobFile, job_id: str, attempt: int, info: dict[str, Any]
    ) -> tuple[JobFile | None, int, dict[str, Any]]:
        """Match every result row to its input row; count, retry or dead-letter it."""
        client, fmt, op = self.runtime.client, self._format, self.settings.operation
        counts = {"created": 0, "updated": 0, "deleted": 0}
        unmatched = 0
        rows = bulk_job.download_rows(client, job_id, "successfulResults", self._dir)
        positions = fmt.result_positions(next(rows, []), 2)
        # Matched to input rows in blocks (one index query per block, not per row).
        listed = self.runtime.report.successes.path is not None
        for block in _blocks((row for row in rows if row), INDEX_BLOCK_ROWS):
            keys = [fmt.result_key(row, positions) for row in block]
            found = iter(job.mark_many([key for key in keys if key is not None]))
            for row, key in zip(block, keys, strict=True):
                record_json = None if key is None else next(found)
                if record_json is None:
                    unmatched += 1
                    continue
                if row[1].lower() == "true":
                    outcome = "created"
                elif op in {"delete", "hard_delete"}:
                    outcome = "deleted"
                elif self._operation == "insert":
                    outcome = "created"
                else:
                    outcome = "updated"
                if listed:  # the success file needs each record's key
                    self.confirm(_stored_record(record_json), outcome, row[0] or None)
                else:
                    counts[outcome] += 1
        self.runtime.report.add(self.stream_name, **counts)

        state = str(info.get("state"))
        # Rows of a Failed job are not retried: the job raises, and the run stops.
        can_retry = attempt < RECORD_RETRIES and state == "JobComplete"
        retry: JobFile | None = None
        failed = 0
        rows = bulk_job.download_rows(client, job_id, "failedResults", self._dir)
        positions = fmt.result_positions(next(rows, []), 2)
        for row in rows:
            if not row:
                continue
            key = fmt.result_key(row, positions)
            claimed = None if key is None else job.claim(key)
            if key is None or claimed is None:
                unmatched += 1
                continue
            record_json, line = claimed
            error = parse_sf_error(row[1])
            if can_retry and is_retryable(error, op, attempt):
                if retry is None:
                    retry = job.retry = JobFile(self._dir, self._next_seq(), fmt.header)
                retry.add(key, record_json, line)
                continue
            failed += 1
            self.reject(_stored_record(record_json), error, source="salesforce", job_id=job_id)

        error_message = str(info.get("errorMessage") or "")
        unprocessed = 0
        rows = bulk_job.download_rows(client, job_id, "unprocessedrecords", self._dir)
        positions = fmt.result_positions(next(rows, []), 0)
        for row in rows:
            if not row:
                continue
            key = fmt.result_key(row, positions)
            claimed = job.claim(key) if key is not None else None
            if claimed is None:
                unmatched += 1
                continue
            unprocessed += 1
            text = f"Bulk job {job_id} ended {state} before processing this record"
            detail = ErrorDetail("BULK_UNPROCESSED", f"{text}: {error_message}".rstrip(": "))
            self.reject(_stored_record(claimed[0]), detail, source="salesforce", job_id=job_id)

        missing = 0
        for _, record_json, _ in job.unclaimed():
            missing += 1
            detail = ErrorDetail(
                "BULK_RESULT_MISSING",
                f"no result row of Bulk job {job_id} (state {state}) matches this record; "
                "it may or may not have been written",
            )
            self.reject(_stored_record(record_json), detail, source="target", job_id=job_id)
        if unmatched or missing:
            LOGGER.warning(
                "stream %r, Bulk job %s: %d result row(s) matched no uploaded row, %d uploaded "
                "row(s) had no result (dead-lettered as BULK_RESULT_MISSING)",
                self.stream_name,
                job_id,
                unmatched,
                missing,
            )
        if retry is not None:
            retry.finish()
            job.retry = None  # handed to the caller, which runs it as a new job
        self._record_job(
            job_id,
            state,
            job.rows,
            attempt,
            info,
            unprocessed=unprocessed,
            missing=missing,
            unmatched=unmatched,
        )
        return retry, failed + unprocessed + missing, info

    def _settle_job(self, job: JobFile, reason: str) -> None:
        """Dead-letter the rows of a job that ended early and that no result accounts for.

        Rows of a job that was never closed were not processed (Salesforce processes a job
        only once it is UploadComplete); once it was closed, some may have been written.
        """
        code, what = (
            (OUTCOME_UNKNOWN, "may or may not have been written")
            if job.closed
            else (NOT_SENT, "was not sent")
        )
        for pending in (job, job.retry):
            if pending is None:
                continue
            pending.finish()
            late = pending is job.retry  # a row-lock retry that never got its new job
            for _, record_json, _ in pending.unclaimed():
                record = _stored_record(record_json)
                text = (
                    f"was to be sent again after a row lock, but was not: {reason}"
                    if late
                    else f"{what}: {reason}"
                )
                detail = ErrorDetail(NOT_SENT if late else code, self.message(record, text))
                self.reject(record, detail, source="target")
        job.retry = None

    def account_unfinished(self) -> None:
        """Dead-letter the rows that have no outcome: still in memory, or in unsent jobs.

        Called once no pool thread runs any more (the run is ending).
        """
        pending, self._pending = self._pending, []
        for record, _ in pending:
            self._not_sent(record)
        staged, self._staged = self._staged, []
        for _, record_json, _ in staged:
            self._not_sent(_stored_record(record_json))
        current, self._current = self._current, None
        with self._lock:
            unsettled = list(self._unsettled.values())
            self._unsettled.clear()
        for job in [*([current] if current is not None else []), *unsettled]:
            self._settle_job(job, "the run stopped before its Bulk job finished")
            job.remove()

    def _not_sent(self, record: dict[str, Any]) -> None:
        text = "the run stopped before this record was sent"
        self.reject(record, ErrorDetail(NOT_SENT, self.message(record, text)), source="target")

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _record_job(
        self,
        job_id: str,
        state: str,
        rows: int,
        attempt: int,
        info: dict[str, Any],
        *,
        unprocessed: int = 0,
        missing: int = 0,
        unmatched: int = 0,
    ) -> None:
        entry: dict[str, Any] = {
            "id": job_id,
            "operation": self._operation,
            "object": self.obj.name,
            "state": state,
            "records": rows,
            "processed": int(info.get("numberRecordsProcessed") or 0),
            "failed": int(info.get("numberRecordsFailed") or 0),
            "unprocessed": unprocessed,
            "attempt": attempt + 1,
        }
        if missing:
            entry["missing_results"] = missing
        if unmatched:
            entry["unmatched_results"] = unmatched
        if info.get("errorMessage"):
            entry["error_message"] = str(info["errorMessage"])
        self.runtime.report.add_job(self.stream_name, entry)

    # -- messages ------------------------------------------------------------------------------

    def _unsendable(self, record: dict[str, Any], column: str) -> ErrorDetail:
        text = (
            f"{column} is the text '#N/A', which Bulk API reads as null and so cannot be "
            "loaded as a value; load this record with api: rest"
        )
        field = column.split(".", 1)[0]
        names = [c.field.name for c in self.mapper.columns if c.name == column] or [field]
        return ErrorDetail("BULK_UNSENDABLE_VALUE", self.message(record, text), tuple(names))
