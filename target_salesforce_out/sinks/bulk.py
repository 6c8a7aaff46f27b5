"""Bulk sink: Bulk API 2.0 ingest jobs, with every input row's outcome read back and reported.

Records are converted as they arrive and written straight to the current job's CSV file, with
an on-disk index of the original records (see :mod:`.bulk_csv`), so memory stays flat. A job is
cut when it reaches the record cap (``batch_size``, if set) or the byte cap
(:attr:`BulkSink.max_job_bytes`, under the 100 MB raw upload limit), or when a key repeats (one
job must not hold a key twice: its rows run in parallel and results could not be told apart).
Finished files are handed to the shared pool, up to ``max_concurrency`` jobs in flight; a job
holding a key that an unfinished job also holds waits for that job first, so the last write for
a key lands last.

Each job: create, upload, close, poll with backoff (see :mod:`.bulk_job`), then read its
results back and give every input row its outcome (see :mod:`.bulk_results`). An answer lost on
the upload or the close is settled from the job's state, and a download cut off is fetched
again; neither aborts the job. Rows that failed with a transient error (a row lock) go again in
a new job, a bounded number of times (see :mod:`target_salesforce_out.retry_policy`).
Finished jobs are not deleted: that would cost one more call per job, and keeping them lets
the job ids in the report be looked up in Setup until Salesforce purges them after 7 days.

The Target waits for :meth:`BulkSink.wait_for_jobs` before it writes STATE, so STATE covers a
record only once its job is terminal and its results are processed. An interrupted or failed
run calls :meth:`BulkSink.abort_open_jobs`.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar

from target_salesforce_out import dry_run
from target_salesforce_out.assignment_rules import bulk_rule_id
from target_salesforce_out.duplicate_rules import ALLOW_SAVE
from target_salesforce_out.errors import (
    BulkJobAbortedError,
    BulkJobError,
    BulkJobFailedError,
    ConfigError,
    ErrorDetail,
    RecordsFailedError,
    SalesforceOutError,
    UnsendableValueError,
)
from target_salesforce_out.jsonl_files import RECORD_ENCODER
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import NOT_SENT, OUTCOME_UNKNOWN, Count
from target_salesforce_out.retry_policy import backoff_seconds
from target_salesforce_out.sinks import bulk_job, duplicate_resend, lock_retry
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.bulk_csv import MAX_RECORD_CHARS, RowFormat, column_kind
from target_salesforce_out.sinks.bulk_results import ResultReader, stored_record
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.job_file import INDEX_BLOCK_ROWS, JobFile
from target_salesforce_out.sinks.ledger_updates import update_by_id
from target_salesforce_out.sinks.parent_groups import (
    PARENT_JOB_ROWS,
    ParentGroups,
    Row,
    parent_column,
)

# Reported for a job whose abort the org refused on a hard stop (it had already ended).
ABORT_REFUSED = "AbortRefused"
# Records as stored in a job's index: the dead-letter file's encoding, with Decimals read back
# as Decimal (bulk_results.stored_record), so a record rejected from a job is written exactly
# as one rejected over REST.
_RECORD_ENCODER = RECORD_ENCODER


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
    tracks_in_memory: ClassVar[bool] = False
    # Jobs run on after the batch that started them (see LoadOrder.write_parents_first).
    runs_jobs: ClassVar[bool] = True
    # A child object's rows go in jobs by parent (see parent_groups): at most this many rows
    # a job, and this many staged on disk before they are written (off only for benchmarks).
    group_by_parent: ClassVar[bool] = True
    parent_job_rows: ClassVar[int] = PARENT_JOB_ROWS
    parent_window_rows: ClassVar[int] = 500_000

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
        key = self.mapper.key_column
        # What the jobs do: upsert by Id without an Id property makes every record new (as
        # over REST), so its jobs insert.
        self._job_op = (
            Operation.INSERT if key is None and self.operation.creates else self.operation
        )
        # The job's externalIdFieldName (Bulk API 2.0 Developer Guide, Create a Job).
        self._external_id = key.name if key is not None and self._job_op.finds_by_key else None
        # The jobs' assignmentRuleId (found once per stream for "default"); saves only, as the
        # rule runs when a record is created or updated.
        self._assignment_rule_id = (
            bulk_rule_id(self.runtime.client, stream_name, self.obj.name, self.assignment_rule)
            if self._job_op.sends_fields
            else None
        )
        self._format = self._row_format()
        self._lookup_key = self.key_name() if self._needs_lookup() else None
        # Without batch_size, jobs are cut by bytes: as large as the upload limit allows.
        self._job_rows = self.settings.bulk_job_rows
        # The jobs a real run would make, in a dry run (see dry_run.py).
        self._job_plan = dry_run.JobPlan(self) if self.runtime.dry_run else None
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
        # Bulk API 2.0 has no duplicate rule header: with allow_save, rows refused as
        # duplicates go again over REST (see duplicate_resend).
        allow_save = self.settings.duplicate_rules == ALLOW_SAVE and self._job_op.sends_fields
        self._result_reader = ResultReader(
            self,
            self._format,
            self._job_op,
            self._dir,
            self._new_job_file,
            self._resend_duplicates if allow_save else None,
            # Rows failed on a row lock go again over REST (see lock_retry).
            self._resend_locked if self._job_op.sends_fields else None,
        )
        self._groups = self._parent_groups()
        if self.ledger is not None:
            # Insert rows the ledger remembers the Id of: updated over REST (see defer).
            self.ledger.send_updates = lambda items: update_by_id(self, items)

    # -- setup -------------------------------------------------------------------------

    def _parent_groups(self) -> ParentGroups | None:
        """Staging by parent, for a stream of a child object that saves its rows."""
        if not self.group_by_parent or not self._job_op.sends_fields or self.runtime.dry_run:
            return None
        found = parent_column(self.mapper.columns, self._format.header, self.obj.name)
        return ParentGroups(self._dir, *found) if found is not None else None

    def _needs_lookup(self) -> bool:
        """Rows whose Id (or existence, in a dry run) must be found with SOQL first."""
        op = self._job_op
        if not op.needs_key:
            return False
        if self.runtime.dry_run:
            return self.key_name() is not None
        return not op.finds_by_key and self.key_name() != "Id"

    def _row_format(self) -> RowFormat:
        columns = self.mapper.columns
        op = self._job_op
        if not op.sends_fields:
            return RowFormat(("Id",), key="Id", kinds=("id",))
        # Operations that address records by Id carry it, found from the external id first.
        by_id = op.needs_key and not op.finds_by_key
        header = [c.name for c in columns]
        if by_id and "Id" not in header:
            header.append("Id")  # resolved from the external id before the row is written
        aliases = {
            c.field.name: c.name
            for c in columns
            if c.parent_field is not None and c.field.name not in header
        }
        key = "Id" if by_id else self._external_id
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
        if self._groups is not None:
            return self._groups.rows >= self.parent_window_rows
        job = self._current
        rows = len(self._staged) + (job.rows if job is not None else 0)
        return rows >= self._job_rows or (job is not None and job.bytes >= self.max_job_bytes)

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Check and convert one record, then write it to the current job's file."""
        item = self._prepare(record)
        if item is not None:
            self.accept(item)

    def accept(self, item: Item) -> None:
        """Write one converted record to the current job (the auto sink hands its own here)."""
        if self.deferral is not None:
            held = self.deferral.admit_all([item])
            if not held:
                return  # waits for its parent (a hierarchy level; see sinks/deferred.py)
            item = held[0]
        if self.ledger is not None and self._job_op is Operation.INSERT and self.ledger.defer(item):
            return  # an insert the ledger remembers the Id of: updated by Id over REST
        if self.source_deletes.defer(item, self._finish_writes):
            return  # deleted at the source: sent once the rows before it are written
        if self._lookup_key is not None or self.runtime.dry_run:
            # A dry run looks rows up and checks their parents a block at a time.
            self._pending.append(item)
            if len(self._pending) >= self.lookup_rows:
                self._flush_pending()
        else:
            self._add(*item)

    def process_batch(self, context: dict[str, Any]) -> None:
        """Hand the current job to the pool; apply ``on_record_error`` to local rejections."""
        self._flush_pending()
        if self.ledger is not None:
            self.ledger.send_deferred()
        self._cut()
        if self._job_plan is not None:
            self._job_plan.cut()
        self.source_deletes.flush(self._finish_writes)
        if self.deferral is not None:
            self.deferral.release(final=False)
        self.raise_for_failures()

    def _finish_writes(self) -> None:
        """Write every row received so far and wait for its job (deletes come after)."""
        self._flush_pending()
        self._cut()
        if self._job_plan is not None:
            self._job_plan.cut()  # a dry run: the job a real run submits here
        self.wait_for_jobs()

    def write_wave(self, items: list[Item]) -> None:
        """Write ``items`` in their own job (after every row before them) and wait for it.

        A dry run plans that job instead (see :meth:`dry_run_batch`).
        """
        self._finish_writes()
        if items:
            if self.runtime.dry_run:
                self.dry_run_batch(items)
            else:
                self.write_batch(items)
            self._finish_writes()

    def wait_before_failing(self) -> None:
        """Finish the batch's jobs before failing it: a job's own error wins."""
        self.wait_for_jobs()

    def clean_up(self) -> None:
        """Delete the temporary files."""
        super().clean_up()
        if self._keys is not None:
            self._keys.close()
            self._keys = None
        if self._groups is not None:
            self._groups.close()
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
        """Count would-be outcomes and put the rows into the jobs a real run would make."""
        plan = self._job_plan
        assert plan is not None
        if self.deferral is not None:  # what it does not reject counts as written
            self.deferral.dry_write(items, lambda batch: dry_run.bulk_batch(self, batch, plan))
        else:
            dry_run.bulk_batch(self, items, plan)

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
        record_json = _RECORD_ENCODER.encode(record)
        if self.ledger is not None:
            record_json = self.ledger.attach(record, record_json)  # its ledger key and digest
        key, line = fmt.correlation_key(cells), fmt.line(cells).encode()
        if self._groups is not None:
            self._groups.add(cells, key, record_json, line)
            return
        self._staged.append((key, record_json, line))
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
        return not self._job_op.creates_without(self._format.key or "")

    def _new_job_file(self) -> JobFile:
        return JobFile(self._dir, self._next_seq(), self._format.header)

    def _current_job(self) -> JobFile:
        if self._current is None:
            self._current = self._new_job_file()
        return self._current

    def _cut(self) -> None:
        """Write the staged rows (a child object's by parent), then submit the current job."""
        if self._groups is not None and self._groups.rows:
            self._groups.write_jobs(
                min(self._job_rows, self.parent_job_rows),
                lambda: self._current.rows if self._current is not None else 0,
                self._write_rows,
                self._submit_current,
            )
        self._write_staged()
        self._submit_current()

    def _write_rows(self, rows: list[Row]) -> None:
        self._staged.extend(rows)
        self._write_staged()

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
            raise BulkJobAbortedError(
                "", "Aborted", "", f"stream {self.stream_name!r}: the run is stopping"
            )
        self._parents_first.write_parents_first(self)
        if job.barrier:
            self.wait_for_jobs()
        while len(self._inflight) >= self.runtime.max_concurrency:
            _, oldest = self._inflight.popleft()
            oldest.result()
        self.runtime.report.add_batch(self.stream_name, "bulk", job.rows)
        self._inflight.append((job.seq, self.runtime.submit(self._run_job, job, 0)))

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
            raise BulkJobFailedError(
                str(info["id"]),
                "Failed",
                message,
                f"stream {self.stream_name!r}: Bulk job {info['id']} failed: {message}; its "
                "unprocessed records are in the dead-letter file",
            )
        if retry is not None:
            self.count(Count.RETRIED, retry.rows)
            if self._stop.wait(backoff_seconds(attempt)):
                self._settle_job(retry, "the run stopped before they were sent again")
                retry.remove()
                raise BulkJobAbortedError(
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
        created = bulk_job.create_job(
            client, self.obj.name, self._job_op, self._external_id, self._assignment_rule_id
        )
        job_id = str(created["id"])
        with self._lock:
            self._open_jobs.add(job_id)
        try:
            if self._stop.is_set():
                bulk_job.abort_quietly(client, job_id)
                raise BulkJobAbortedError(
                    job_id, "Aborted", "", f"Bulk job {job_id} aborted: the run is stopping"
                )
            # A lost answer to the upload or the close is settled from the job's state, not
            # by aborting the job (see bulk_job).
            state = bulk_job.upload(client, job_id, job.csv_path)
            if attempt == 0:
                self.count(Count.SENT, job.rows)
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
        except BulkJobError as exc:
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
            raise BulkJobAbortedError(
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
        """Give every row its outcome from the job's results; record the job in the report."""
        results = self._result_reader.read(job, job_id, attempt, info)
        self._record_job(
            job_id,
            str(info.get("state")),
            job.rows,
            attempt,
            info,
            unprocessed=results.unprocessed,
            missing=results.missing,
            unmatched=results.unmatched,
        )
        return results.retry, results.failed + results.unprocessed + results.missing, info

    def _resend_duplicates(self, records: list[dict[str, Any]], job_id: str) -> int:
        """Send rows refused as duplicates again over REST; return how many failed again."""
        return duplicate_resend.resend(self, self._job_op, records, job_id)

    def _resend_locked(self, records: list[dict[str, Any]], job_id: str) -> int:
        """Send rows failed on a row lock again over REST; return how many failed again."""
        return lock_retry.resend_locked(self, self._job_op, records, job_id, self._stop)

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
                record = stored_record(record_json)
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
        if self.deferral is not None:
            self.deferral.account_unfinished()
        pending, self._pending = self._pending, []
        if self.ledger is not None:
            pending += self.ledger.unsent()
        for record, _ in pending:
            self._not_sent(record)
        for record, _ in self.source_deletes.unfinished():
            self._not_sent(record)
        staged, self._staged = self._staged, []
        for _, record_json, _ in staged:
            self._not_sent(stored_record(record_json))
        for record_json in self._groups.unsent() if self._groups is not None else ():
            self._not_sent(stored_record(record_json))
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
            "operation": self._job_op.bulk_name,
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
