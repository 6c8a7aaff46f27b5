"""A finished Bulk job's results read back: every result row matched to the input row it answers.

A job has three result files (Bulk API 2.0 Developer Guide, Get Job Successful Record Results,
Get Job Failed Record Results, Get Job Unprocessed Record Results). Each row is matched to its
uploaded row through the job's index (:mod:`.job_file`, by :meth:`.RowFormat.correlation_key`),
then counted, sent again in a new job (a transient error), or dead-lettered with the job id.
An uploaded row that no result mentions is dead-lettered as ``BULK_RESULT_MISSING``; a result
row that matches no uploaded row is counted and logged, never credited to another row.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from target_salesforce_out.duplicate_rules import DUPLICATES_DETECTED
from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import Count
from target_salesforce_out.retry_policy import RECORD_RETRIES, is_retryable, is_row_lock
from target_salesforce_out.sinks import bulk_job
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.bulk_csv import RowFormat
from target_salesforce_out.sinks.job_file import INDEX_BLOCK_ROWS, JobFile
from target_salesforce_out.sinks.ledger_hook import split_note

LOGGER = logging.getLogger("target_salesforce_out.bulk")
T = TypeVar("T")
# Sends rows refused as duplicates again (another API), returns how many failed again.
Resend = Callable[[list[dict[str, Any]], str], int]
# Several errors in one sf__Error cell: "A:msg:F -- B:msg:--" (the joining is not documented
# by Salesforce; the emulator's choice).
_NEXT_ERROR = re.compile(r" --\s+(?=[A-Z][A-Z0-9_]*:)")


def parse_sf_error(text: str) -> ErrorDetail:
    """Split an ``sf__Error`` cell into code, message and fields (Get Job Failed Record Results).

    ``CODE:message:Field1,Field2 --``: the code is the text before the first ``:``, the fields
    follow the last ``:``, the message (which may contain ``:``) is in between. Only the first
    of several joined errors is kept.
    """
    first = _NEXT_ERROR.split(text.strip(), maxsplit=1)[0]
    body = first.removesuffix("--").rstrip()
    code, sep, rest = body.partition(":")
    if not sep:
        return ErrorDetail(code.strip() or "UNKNOWN", text.strip())
    message, sep, fields = rest.rpartition(":")
    if not sep:
        message, fields = rest, ""
    names = tuple(f.strip() for f in fields.split(",") if f.strip())
    return ErrorDetail(code.strip(), message.strip(), names)


def stored_record(record_json: bytes) -> dict[str, Any]:
    """A record as the Bulk sink stored it in a job's index (Decimals read back as Decimal)."""
    record: dict[str, Any] = json.loads(split_note(record_json)[1], parse_float=Decimal)
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


@dataclass(frozen=True)
class JobResults:
    """What one job's results said, once every row was matched.

    Attributes:
        retry: The rows to send again in a new job (finished file), or None.
        failed: Rows Salesforce rejected (dead-lettered).
        unprocessed: Rows the job never processed (dead-lettered).
        missing: Uploaded rows no result mentions (dead-lettered).
        unmatched: Result rows that match no uploaded row (counted and logged).
    """

    retry: JobFile | None
    failed: int
    unprocessed: int
    missing: int
    unmatched: int


class ResultReader:
    """Reads a stream's finished jobs' results back and gives each row its outcome."""

    def __init__(
        self,
        sink: SalesforceSink,
        row_format: RowFormat,
        job_operation: Operation,
        directory: Path,
        new_job_file: Callable[[], JobFile],
        resend_duplicates: Resend | None = None,
        resend_locked: Resend | None = None,
    ) -> None:
        """Results of ``sink``'s jobs of ``job_operation``, spooled in ``directory``.

        ``new_job_file`` gives an empty job file for rows to send again;
        ``resend_duplicates``, when given, takes the rows that failed with
        ``DUPLICATES_DETECTED`` instead of dead-lettering them; ``resend_locked``, when
        given, takes those of a complete job that failed on a row lock instead of a new job.
        """
        self._sink = sink
        self._format = row_format
        self._job_operation = job_operation
        self._directory = directory
        self._new_job_file = new_job_file
        self._resend_duplicates = resend_duplicates
        self._resend_locked = resend_locked

    def read(self, job: JobFile, job_id: str, attempt: int, info: dict[str, Any]) -> JobResults:
        """Match every result row of job ``job_id`` (try ``attempt``, from 0) to ``job``'s rows.

        ``info`` is the job's last Get Job Info answer (a terminal state).
        """
        state = str(info.get("state"))
        unmatched = self._successes(job, job_id)
        # Rows of a Failed job are not retried: the job raises, and the run stops.
        can_retry = attempt < RECORD_RETRIES and state == "JobComplete"
        retry, failed, not_matched = self._failures(
            job, job_id, attempt, can_retry=can_retry, complete=state == "JobComplete"
        )
        unmatched += not_matched
        unprocessed, not_matched = self._unprocessed(job, job_id, state, info)
        unmatched += not_matched
        missing = self._missing(job, job_id, state)
        if unmatched or missing:
            LOGGER.warning(
                "stream %r, Bulk job %s: %d result row(s) matched no uploaded row, %d uploaded "
                "row(s) had no result (dead-lettered as BULK_RESULT_MISSING)",
                self._sink.stream_name,
                job_id,
                unmatched,
                missing,
            )
        if retry is not None:
            retry.finish()
            job.retry = None  # handed to the caller, which runs it as a new job
        return JobResults(retry, failed, unprocessed, missing, unmatched)

    def _rows(self, job_id: str, kind: str, skip: int) -> Iterator[tuple[list[str], str | None]]:
        """Each non-empty row of one result file with its correlation key (None: unreadable).

        ``skip``: the ``sf__`` columns before the echoed upload columns.
        """
        rows = bulk_job.download_rows(self._sink.runtime.client, job_id, kind, self._directory)
        positions = self._format.result_positions(next(rows, []), skip)
        for row in rows:
            if row:
                yield row, self._format.result_key(row, positions)

    def _successes(self, job: JobFile, job_id: str) -> int:
        """Count (and, with a success file, list) the written rows; return the unmatched."""
        sink, op = self._sink, self._job_operation
        counts = dict.fromkeys((Count.CREATED, Count.UPDATED, Count.DELETED), 0)
        unmatched = 0
        # The success file, the ledger and the load plan's deferred writes (sinks/deferred.py)
        # need each record's key; without them, only counts.
        listed = (
            sink.runtime.report.successes.path is not None
            or sink.ledger is not None
            or sink.deferral is not None
        )
        # Matched to input rows in blocks (one index query per block, not per row).
        rows = self._rows(job_id, "successfulResults", 2)
        for block in _blocks(rows, INDEX_BLOCK_ROWS):
            found = iter(job.mark_many([key for _, key in block if key is not None]))
            for row, key in block:
                record_json = None if key is None else next(found)
                if record_json is None:
                    unmatched += 1
                    continue
                # sf__Id, sf__Created, then the uploaded columns.
                outcome = op.outcome(created=row[1].lower() == "true")
                if listed:
                    note = split_note(record_json)[0]
                    sink.confirm(stored_record(record_json), outcome, row[0] or None, note)
                else:
                    counts[outcome] += 1
            if sink.ledger is not None:
                sink.ledger.flush()  # this block's confirmations, committed
        sink.runtime.report.add_many(sink.stream_name, counts)
        return unmatched

    def _failures(
        self, job: JobFile, job_id: str, attempt: int, *, can_retry: bool, complete: bool
    ) -> tuple[JobFile | None, int, int]:
        """Send again or dead-letter each failed row: (rows to send again, failed, unmatched)."""
        sink = self._sink
        retry: JobFile | None = None
        failed = unmatched = 0
        duplicates: list[dict[str, Any]] = []
        locked: list[dict[str, Any]] = []
        for row, key in self._rows(job_id, "failedResults", 2):
            claimed = None if key is None else job.claim(key)
            if key is None or claimed is None:
                unmatched += 1
                continue
            record_json, line = claimed
            # sf__Id, sf__Error, then the uploaded columns.
            error = parse_sf_error(row[1])
            if self._resend_duplicates is not None and error.code == DUPLICATES_DETECTED:
                duplicates.append(stored_record(record_json))
                continue
            if is_row_lock(error):
                sink.count(Count.LOCK_FAILED)
                if self._resend_locked is not None and complete:
                    locked.append(stored_record(record_json))
                    continue
            if can_retry and is_retryable(error, sink.operation, attempt):
                if retry is None:
                    retry = job.retry = self._new_job_file()
                retry.add(key, record_json, line)
                continue
            failed += 1
            sink.reject(stored_record(record_json), error, source="salesforce", job_id=job_id)
        if duplicates and self._resend_duplicates is not None:
            failed += self._resend_duplicates(duplicates, job_id)
        if locked and self._resend_locked is not None:
            failed += self._resend_locked(locked, job_id)
        return retry, failed, unmatched

    def _unprocessed(
        self, job: JobFile, job_id: str, state: str, info: dict[str, Any]
    ) -> tuple[int, int]:
        """Dead-letter the rows the job never processed: (unprocessed, unmatched)."""
        error_message = str(info.get("errorMessage") or "")
        unprocessed = unmatched = 0
        for _, key in self._rows(job_id, "unprocessedrecords", 0):
            claimed = job.claim(key) if key is not None else None
            if claimed is None:
                unmatched += 1
                continue
            unprocessed += 1
            text = f"Bulk job {job_id} ended {state} before processing this record"
            detail = ErrorDetail("BULK_UNPROCESSED", f"{text}: {error_message}".rstrip(": "))
            self._sink.reject(stored_record(claimed[0]), detail, source="salesforce", job_id=job_id)
        return unprocessed, unmatched

    def _missing(self, job: JobFile, job_id: str, state: str) -> int:
        """Dead-letter the uploaded rows no result mentions; return how many."""
        missing = 0
        for _, record_json, _ in job.unclaimed():
            missing += 1
            detail = ErrorDetail(
                "BULK_RESULT_MISSING",
                f"no result row of Bulk job {job_id} (state {state}) matches this record; "
                "it may or may not have been written",
            )
            self._sink.reject(stored_record(record_json), detail, source="target", job_id=job_id)
        return missing
