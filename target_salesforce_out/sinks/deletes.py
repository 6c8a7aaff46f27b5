"""Deleting records by Id, and rows deleted at the source (``deleted_records``).

:func:`delete_ids` deletes records by their Salesforce Id, through sObject Collections (REST
API Developer Guide, sObject Collections Delete: up to 200 ids a call, ``allOrNone=false``, one
result per id in order) or a Bulk API 2.0 ``delete``/``hardDelete`` job (Bulk API 2.0 Developer
Guide, Create a Job; the upload is a CSV with one ``Id`` column). Hard delete exists only in
Bulk API. Ids that fail with a transient error (a row lock) go again, as for writes.

:class:`SourceDeletes` is what a writing stream does with a record whose ``_sdc_deleted_at`` is
set (see :mod:`target_salesforce_out.deleted_records`): count it as ignored, or find its
record by the stream's key (the Id itself, else an external id or match fields looked up with
SOQL) and delete it. A record already gone from Salesforce (no record has its key, or
Salesforce answers ``ENTITY_IS_DELETED``) is the state the source asked for: it counts as
``already_deleted``, not as a failure, so replaying a delete never fails a run.

Order. A delete and a write of the same key land in input order: a batch is cut into phases
(see :func:`phases`) in which no key is written after it is deleted; each phase writes, waits
for its writes, then deletes.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_salesforce_out.deleted_records import DELETED_AT, HARD_DELETE, IGNORE
from target_salesforce_out.errors import (
    ApiLimitError,
    BulkJobError,
    ConfigError,
    ErrorDetail,
    OutcomeUnknownError,
    RecordRejectedError,
    SalesforceApiError,
    SalesforceOutError,
    SessionExpiredError,
    TransientApiError,
)
from target_salesforce_out.ids import id_problem, to18
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import NOT_SENT, OUTCOME_UNKNOWN, Count
from target_salesforce_out.retry_policy import RECORD_RETRIES, backoff_seconds, is_retryable
from target_salesforce_out.settings import REST_MAX_BATCH
from target_salesforce_out.sinks import bulk_job
from target_salesforce_out.sinks.bulk_results import parse_sf_error
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rest import call_failure, delete_records, record_errors
from target_salesforce_out.soql import find_matches, key_of, match_key

if TYPE_CHECKING:
    from target_salesforce_out.runtime import Runtime
    from target_salesforce_out.sinks.base import SalesforceSink

LOGGER = logging.getLogger("target_salesforce_out")

# Salesforce's answer for a record already deleted (in the Recycle Bin, or gone).
ALREADY_GONE = frozenset({"ENTITY_IS_DELETED"})
# Ids per Bulk delete job: an 18-character id and a newline, far under the upload limit.
BULK_DELETE_ROWS = 100_000
_POLL_FIRST_SECONDS = 0.2
_POLL_MAX_SECONDS = 10.0
_JOB_TIMEOUT_SECONDS = 6 * 3600.0

# Told once per id: None when deleted, else Salesforce's (or the target's) error.
Answer = Callable[[str, ErrorDetail | None], None]


class DeleteItem(Item):
    """An :class:`Item` of a record deleted at the source; ``fields`` holds only its key."""


# -- deleting by Id ---------------------------------------------------------------------------


class BulkDeletes:
    """Bulk delete jobs in flight, so that a stopping run can abort them."""

    def __init__(self) -> None:
        """No job open; not stopping."""
        self.stop = threading.Event()
        self._open: set[str] = set()
        self._lock = threading.Lock()

    def opened(self, job_id: str) -> None:
        """A job was created."""
        with self._lock:
            self._open.add(job_id)

    def ended(self, job_id: str) -> None:
        """A job is terminal (or abandoned)."""
        with self._lock:
            self._open.discard(job_id)

    def abort(self, runtime: Runtime) -> None:
        """Abort every open job and start no more (the run is stopping)."""
        self.stop.set()
        with self._lock:
            open_jobs = sorted(self._open)
        for job_id in open_jobs:
            bulk_job.abort_quietly(runtime.client, job_id)


def delete_ids(
    runtime: Runtime,
    stream: str,
    sobject: str,
    ids: Sequence[str],
    answer: Answer,
    *,
    operation: Operation,
    bulk: bool,
    jobs: BulkDeletes,
) -> None:
    """Delete ``ids`` (``operation``: delete or hard_delete); ``answer`` each id once.

    Over REST the calls run on the shared pool, at most ``max_concurrency`` at once.

    Raises:
        SalesforceOutError: a call or job failed as a whole in a way that ends the run (an
            outage, the API budget, a stop); the ids not answered yet were not deleted.
    """
    unique = list(dict.fromkeys(ids))
    if not unique:
        return
    if bulk or not operation.rest:
        _bulk_delete(runtime, stream, sobject, unique, answer, operation, jobs)
        return
    futures = [
        runtime.submit(_rest_chunk, runtime, unique[i : i + REST_MAX_BATCH], answer)
        for i in range(0, len(unique), REST_MAX_BATCH)
    ]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


def _rest_chunk(runtime: Runtime, ids: list[str], answer: Answer) -> None:
    """One Collections delete call; ids that hit a transient error go again with backoff."""
    pending = ids
    for attempt in range(RECORD_RETRIES + 1):
        try:
            results = delete_records(runtime.client, pending)
        except (TransientApiError, ApiLimitError, SessionExpiredError):
            raise
        except OutcomeUnknownError as exc:
            for rid in pending:
                answer(rid, ErrorDetail(OUTCOME_UNKNOWN, str(exc)))
            return
        except SalesforceApiError as exc:
            detail = ErrorDetail(exc.error_code, exc.error_message, tuple(exc.fields))
            for rid in pending:
                answer(rid, detail)
            return
        if len(results) != len(pending):
            text = f"{len(results)} results for {len(pending)} ids"
            for rid in pending:
                answer(rid, ErrorDetail("UNEXPECTED_RESPONSE", text))
            return
        retry: list[str] = []
        for rid, result in zip(pending, results, strict=True):
            if result.get("success"):
                answer(rid, None)
                continue
            error = record_errors(result)[0]
            if attempt < RECORD_RETRIES and is_retryable(error, Operation.DELETE, attempt):
                retry.append(rid)
            else:
                answer(rid, error)
        if not retry:
            return
        time.sleep(backoff_seconds(attempt))
        pending = retry


def _bulk_delete(
    runtime: Runtime,
    stream: str,
    sobject: str,
    ids: list[str],
    answer: Answer,
    operation: Operation,
    jobs: BulkDeletes,
) -> None:
    """Bulk jobs of at most :data:`BULK_DELETE_ROWS` ids; transient failures go again."""
    with tempfile.TemporaryDirectory(prefix="target-salesforce-out-delete-") as tmp:
        pending = ids
        for attempt in range(RECORD_RETRIES + 1):
            retry: list[str] = []
            for start in range(0, len(pending), BULK_DELETE_ROWS):
                chunk = pending[start : start + BULK_DELETE_ROWS]
                retry += _bulk_job(
                    runtime,
                    stream,
                    sobject,
                    chunk,
                    answer,
                    operation,
                    jobs,
                    Path(tmp),
                    last=attempt == RECORD_RETRIES,
                )
            if not retry:
                return
            if jobs.stop.wait(backoff_seconds(attempt)):
                for rid in retry:
                    answer(rid, ErrorDetail(NOT_SENT, "the run stopped before it was sent again"))
                return
            pending = retry


def _bulk_job(
    runtime: Runtime,
    stream: str,
    sobject: str,
    ids: list[str],
    answer: Answer,
    operation: Operation,
    jobs: BulkDeletes,
    directory: Path,
    *,
    last: bool,
) -> list[str]:
    """One delete job: create, upload, close, wait, read results; return ids to send again."""
    client = runtime.client
    job_id = str(bulk_job.create_job(client, sobject, operation, None)["id"])
    jobs.opened(job_id)
    path = directory / f"{job_id}.csv"
    path.write_text("Id\n" + "".join(f"{rid}\n" for rid in ids), encoding="utf-8")
    try:
        if bulk_job.upload(client, job_id, path) == "Open":
            bulk_job.close(client, job_id)
        info = bulk_job.wait_for_terminal(
            client,
            job_id,
            stop=jobs.stop,
            first_delay=_POLL_FIRST_SECONDS,
            max_delay=_POLL_MAX_SECONDS,
            timeout=_JOB_TIMEOUT_SECONDS,
        )
    except BulkJobError:
        raise
    except SalesforceOutError:
        bulk_job.abort_quietly(client, job_id)
        raise
    finally:
        jobs.ended(job_id)
        path.unlink(missing_ok=True)
    by18 = {to18(rid): rid for rid in ids if id_problem(rid) is None}
    waiting = dict.fromkeys(ids)
    retry: list[str] = []

    def original(row: dict[str, str]) -> str | None:
        rid = row.get("id") or row.get("sf__id") or ""
        found = by18.get(to18(rid)) if id_problem(rid) is None else rid
        return found if found in waiting else None

    for row in bulk_job.result_rows(client, job_id, "successfulResults", directory):
        rid = original(row)
        if rid is not None:
            del waiting[rid]
            answer(rid, None)
    for row in bulk_job.result_rows(client, job_id, "failedResults", directory):
        rid = original(row)
        if rid is None:
            continue
        del waiting[rid]
        error = parse_sf_error(row.get("sf__error", ""))
        if not last and is_retryable(error, operation, 0):
            retry.append(rid)
        else:
            answer(rid, error)
    state = str(info.get("state"))
    runtime.report.add_job(
        stream,
        {
            "id": job_id,
            "operation": operation.bulk_name,
            "object": sobject,
            "state": state,
            "records": len(ids),
            "processed": int(info.get("numberRecordsProcessed") or 0),
            "failed": int(info.get("numberRecordsFailed") or 0),
            "purpose": "delete",
        },
    )
    message = str(info.get("errorMessage") or "")
    for rid in waiting:
        if state == "Failed":
            answer(rid, ErrorDetail("BULK_JOB_FAILED", f"Bulk job {job_id} failed: {message}"))
        else:
            text = f"Bulk job {job_id} ({state}) gave no result for this id"
            answer(rid, ErrorDetail("BULK_RESULT_MISSING", text))
    return retry


# -- rows deleted at the source -----------------------------------------------------------------


def record_key(sink: SalesforceSink, item: Item) -> Any:
    """What names ``item``'s Salesforce record: its key value or match values as compared.

    None when the record has no key value (it identifies nothing).
    """
    columns = sink.mapper.match_columns
    if columns:
        key = match_key([item.fields.get(c.name) for c in columns], [c.field.type for c in columns])
        return key if any(k is not None for k in key) else None
    name = sink.key_name()
    value = item.fields.get(name) if name else None
    return None if value in (None, "") or name is None else key_of(value, sink.key_type(name))


def phases(sink: SalesforceSink, items: list[Item]) -> Iterator[tuple[list[Item], list[Item]]]:
    """Cut ``items`` into (writes, deletes) phases that keep each key's input order.

    A phase writes first, then deletes; so a write of a key the phase already deletes starts
    the next phase. Without deletes this is one phase holding every item.
    """
    writes: list[Item] = []
    deletes: list[Item] = []
    deleted: set[Any] = set()
    for item in items:
        key = record_key(sink, item)
        if isinstance(item, DeleteItem):
            deletes.append(item)
            deleted.add(key)
            continue
        if key is not None and key in deleted:
            yield writes, deletes
            writes, deletes, deleted = [], [], set()
        writes.append(item)
    if writes or deletes:
        yield writes, deletes


class SourceDeletes:
    """What one writing stream does with the records its source deleted (``deleted_records``)."""

    def __init__(self, sink: SalesforceSink) -> None:
        """Check that the stream can find a deleted row's record (it needs a key).

        Raises:
            ConfigError: ``deleted_records`` deletes, but the stream has no key.
        """
        self.sink = sink
        self.mode = sink.settings.deleted_records
        self.operation = Operation.HARD_DELETE if self.mode == HARD_DELETE else Operation.DELETE
        # Hard delete exists only in Bulk API; a Bulk stream deletes in Bulk jobs too.
        self.bulk = self.mode == HARD_DELETE or sink.runs_jobs
        self.jobs = BulkDeletes()
        mapper = sink.mapper
        key_columns = [c for c in [mapper.key_column, *mapper.match_columns] if c is not None]
        self._key_props = [c.prop for c in key_columns]
        self._key_fields = [c.name for c in key_columns]
        if self.deletes and not key_columns:
            raise ConfigError(
                f"stream {sink.stream_name!r}: deleted_records {self.mode} needs a key to find "
                "the deleted rows' records: set external_id_field (or match_fields), or "
                "deleted_records to ignore"
            )
        # Bulk streams: deleted rows wait here until the rows received before them are
        # written (see defer); their outcomes are tracked here, not by the sink.
        self._pending: list[Item] = []
        self._pending_keys: set[Any] = set()
        self._lock = threading.Lock()
        self._unsettled: dict[int, dict[str, Any]] = {}

    @property
    def deletes(self) -> bool:
        """Whether deleted rows are deleted in Salesforce (not ignored) by this stream."""
        return self.mode != IGNORE and self.sink.operation.sends_fields

    def prepare(self, record: dict[str, Any], marked: Any) -> Item | None:
        """The delete of one row deleted at the source, or None (ignored, or rejected).

        ``marked`` is its ``_sdc_deleted_at``, put back on the record when singer-sdk took it
        off (``add_record_metadata`` off): a dead-letter line then still says it was a delete,
        and replaying the line deletes again.
        """
        sink = self.sink
        record[DELETED_AT] = marked
        if self.mode == IGNORE:
            sink.count(Count.IGNORED_DELETED)
            return None
        if sink.runtime.dry_run:
            sink.count(Count.WOULD_DELETE)
            return None
        try:
            converted = sink.mapper.convert({p: record[p] for p in self._key_props if p in record})
        except RecordRejectedError as exc:
            sink.reject(record, exc.detail, source="target")
            return None
        item = DeleteItem(record, {f: converted[f] for f in self._key_fields if f in converted})
        if record_key(sink, item) is None:
            detail = sink.no_key(self._key_fields[0], record)
            sink.reject(record, detail, source="target")
            return None
        sink.track(record)
        return item

    # -- REST sinks: items of one batch -------------------------------------------------------

    def write(self, items: list[Item], write_batch: Callable[[list[Item]], None]) -> None:
        """Write a batch's items phase by phase (see :func:`phases`); deletes after writes."""
        for writes, deletes in phases(self.sink, items):
            if writes:
                write_batch(writes)
            if deletes:
                self.sink.wait_for_jobs()  # the writes before them land first
                self.delete(deletes)

    # -- Bulk sinks: rows written to job files as they arrive --------------------------------

    def defer(self, item: Item, finish_writes: Callable[[], None]) -> bool:
        """Keep a delete until the rows before it are written; True when ``item`` was one.

        A write of a key with a delete waiting first has every earlier row written and
        waited for (``finish_writes``), then the deletes sent.
        """
        key = record_key(self.sink, item)
        if isinstance(item, DeleteItem):
            self._pending.append(item)
            self._pending_keys.add(key)
            # Accounted for here from now on (also one the auto sink hands over).
            with self._lock:
                self._unsettled[id(item.record)] = item.record
            return True
        if key is not None and key in self._pending_keys:
            self.flush(finish_writes)
        return False

    def flush(self, finish_writes: Callable[[], None]) -> None:
        """Write and wait for every row received so far, then send the waiting deletes."""
        if not self._pending:
            return
        finish_writes()
        items, self._pending, self._pending_keys = self._pending, [], set()
        self.delete(items)

    def unfinished(self) -> list[tuple[dict[str, Any], str]]:
        """Records this class tracks that have no outcome, with the code to dead-letter them.

        Only for sinks that do not track records in memory (the deletes kept by
        :meth:`defer`); called when no call runs.
        """
        self._pending, self._pending_keys = [], set()
        with self._lock:
            records, self._unsettled = list(self._unsettled.values()), {}
        return [(record, NOT_SENT) for record in records]

    # -- deleting --------------------------------------------------------------------------

    def delete(self, items: list[Item]) -> None:
        """Find each record's Id and delete it; every record gets its outcome."""
        sink = self.sink
        by_id: dict[str, list[dict[str, Any]]] = {}
        for record, rid in self._with_ids(items):
            by_id.setdefault(_id_key(rid), []).append(record)
        if not by_id:
            return
        sink.count(Count.SENT, sum(len(r) for r in by_id.values()))
        lock = threading.Lock()

        def answer(rid: str, error: ErrorDetail | None) -> None:
            with lock:
                records = by_id.pop(_id_key(rid), [])
            for record in records:
                if error is None:
                    self._confirm(record, Count.DELETED, rid)
                elif error.code in ALREADY_GONE:
                    self._confirm(record, Count.ALREADY_DELETED, rid)
                else:
                    self._reject(record, error, "salesforce")

        try:
            delete_ids(
                sink.runtime,
                sink.stream_name,
                sink.obj.name,
                list(by_id),
                answer,
                operation=self.operation,
                bulk=self.bulk,
                jobs=self.jobs,
            )
        except Exception as exc:
            detail, source = call_failure(exc, "not deleted")
            with lock:
                left, by_id = [r for records in by_id.values() for r in records], {}
            for record in left:
                self._reject(record, detail, source)
            raise

    def _with_ids(self, items: list[Item]) -> Iterator[tuple[dict[str, Any], str]]:
        """Each item's record with the Id to delete; records already gone are counted here."""
        sink = self.sink
        key = sink.key_name()
        if key == "Id" and not sink.mapper.match_columns:
            for record, fields in items:
                yield record, str(fields["Id"])
            return
        found = self._lookup(items)
        for item in items:
            ids = found.get(record_key(sink, item), [])
            if not ids:
                self._confirm(item.record, Count.ALREADY_DELETED, None)
            elif len(ids) > 1:
                text = f"{len(ids)} {sink.obj.name} records have this key: {', '.join(ids)}"
                code = "MULTIPLE_MATCHES" if sink.mapper.match_columns else "DUPLICATE_EXTERNAL_ID"
                detail = ErrorDetail(code, sink.message(item.record, text), tuple(self._key_fields))
                self._reject(item.record, detail, "target")
            else:
                yield item.record, ids[0]

    def _lookup(self, items: list[Item]) -> dict[Any, list[str]]:
        """The Ids of the records holding each item's key (SOQL, one query per chunk)."""
        sink = self.sink
        columns = sink.mapper.match_columns
        if columns:
            return dict(
                find_matches(
                    sink.runtime.client,
                    sink.obj.name,
                    [c.name for c in columns],
                    [c.field.type for c in columns],
                    [[fields.get(c.name) for c in columns] for _, fields in items],
                )
            )
        key = sink.key_name()
        assert key is not None
        return dict(sink.existing(items, key))

    def _confirm(self, record: dict[str, Any], outcome: Count, rid: str | None) -> None:
        self.sink.confirm(record, outcome, rid)
        self._settled(record)

    def _reject(self, record: dict[str, Any], error: ErrorDetail, source: str) -> None:
        self.sink.reject(record, error, source=source)
        self._settled(record)

    def _settled(self, record: dict[str, Any]) -> None:
        if not self.sink.tracks_in_memory:
            with self._lock:
                self._unsettled.pop(id(record), None)


def _id_key(rid: str) -> str:
    """An Id as compared: 18 characters when it is a well-formed id, else as given."""
    return to18(rid) if id_problem(rid) is None else rid
