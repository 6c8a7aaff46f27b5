"""What happened to every record: counters, rejections, successes, progress, the run report.

Counters are shared by sink threads, so every update takes the report's lock. The dead-letter
file is flushed per rejected record: a record counts as handled (and STATE may cover it) only
once its line is on disk.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.jsonl_files import JsonlWriter
from target_salesforce_out.predictions import RunKeys, StreamForecast

LOGGER = logging.getLogger("target_salesforce_out")
PROGRESS_INTERVAL_SECONDS = 10.0
# Rejections logged one by one; after these, only counts per error code (at the end).
LOGGED_REJECTIONS = 20
# Codes of records whose fate Salesforce never confirmed: counted apart from "failed".
NOT_SENT = "NOT_SENT"
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"


class Count(StrEnum):
    """The counters of one stream, named (and ordered) as in the run report's JSON."""

    RECEIVED = "received"
    SENT = "sent"
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    FAILED = "failed"
    # Never sent (the run stopped first), and sent with no answer (may or may not be written).
    NOT_SENT = "not_sent"
    OUTCOME_UNKNOWN = "outcome_unknown"
    REJECTED_LOCALLY = "rejected_locally"
    RETRIED = "retried"
    WOULD_CREATE = "would_create"
    WOULD_UPDATE = "would_update"
    WOULD_DELETE = "would_delete"
    # Rows deleted at the source (_sdc_deleted_at): not written under deleted_records: ignore;
    # already gone from Salesforce when deleted (a replayed delete is no failure).
    IGNORED_DELETED = "ignored_deleted"
    ALREADY_DELETED = "already_deleted"
    # Records of earlier runs deleted (or failing to be) by mirror: not records of this run's
    # input, so outside received's balance.
    MIRROR_DELETED = "mirror_deleted"
    MIRROR_FAILED = "mirror_failed"
    # Not sent: the ledger holds the same payload as confirmed by Salesforce (an outcome).
    UNCHANGED = "unchanged"
    # Kept records of earlier runs offered again by the ledger (also counted in received).
    RETRIED_FROM_LEDGER = "retried_from_ledger"
    # Bulk rows that failed on a row lock; of them, those sent again over REST, and those of
    # these that failed in the end (see sinks/lock_retry.py).
    LOCK_FAILED = "lock_failed"
    LOCK_RETRIED = "lock_retried"
    LOCK_RETRY_FAILED = "lock_retry_failed"


# The counter of a rejected record, by its error code; every other code counts as failed.
_COUNTER_BY_CODE = {
    NOT_SENT: Count.NOT_SENT,
    OUTCOME_UNKNOWN: Count.OUTCOME_UNKNOWN,
    # A Bulk row no result mentions: it may or may not have been written.
    "BULK_RESULT_MISSING": Count.OUTCOME_UNKNOWN,
}


@dataclass
class StreamStats:
    """What one stream loads into, its counters, and its Bulk jobs."""

    sobject: str = ""
    api: str = "rest"
    operation: str = "upsert"
    counts: dict[Count, int] = field(default_factory=lambda: dict.fromkeys(Count, 0))
    bulk_jobs: list[dict[str, Any]] = field(default_factory=list)
    # What mirror did at the stream's ACTIVATE_VERSION (see mirror.py); None without mirror.
    mirror: dict[str, Any] | None = None
    # The API of each batch, consecutive batches of one API merged (see add_batch).
    api_batches: list[dict[str, Any]] = field(default_factory=list)
    # What a dry run predicts (see predictions.py); None in a real run.
    forecast: StreamForecast | None = None

    def __getitem__(self, count: Count) -> int:
        """The value of one counter."""
        return self.counts[count]

    def add_unlocked(self, count: Count) -> None:
        """Add one without the report's lock: only for a counter that one thread alone changes.

        Every counter exists from the start, so this never resizes the dict under a reader.
        """
        self.counts[count] += 1

    @property
    def written(self) -> int:
        """Records Salesforce confirmed."""
        counts = self.counts
        return counts[Count.CREATED] + counts[Count.UPDATED] + counts[Count.DELETED]

    @property
    def accounted(self) -> int:
        """Records with an outcome; equals ``received`` once the run has ended."""
        return self.written + sum(self.counts[c] for c in _OTHER_OUTCOMES)

    def as_dict(self) -> dict[str, Any]:
        """The stream's entry in the run report: object, api, operation, counters, jobs."""
        return {
            "sobject": self.sobject,
            "api": self.api_used,
            "operation": self.operation,
            **{count.value: n for count, n in self.counts.items()},
            "bulk_jobs": [dict(job) for job in self.bulk_jobs],
            **({"mirror": dict(self.mirror)} if self.mirror is not None else {}),
            "api_batches": [dict(run) for run in self.api_batches],
            **(self.forecast.as_dict() if self.forecast is not None else {}),
        }

    @property
    def api_used(self) -> str:
        """The ``api`` setting; with ``auto``, also what it used: ``auto (rest+bulk)``."""
        if self.api != "auto":
            return self.api
        used = list(dict.fromkeys(str(run["api"]) for run in self.api_batches))
        return f"auto ({'+'.join(used)})" if used else "auto"


# Outcomes other than written: with written, every received record has exactly one.
_OTHER_OUTCOMES = (
    Count.FAILED,
    Count.NOT_SENT,
    Count.OUTCOME_UNKNOWN,
    Count.WOULD_CREATE,
    Count.WOULD_UPDATE,
    Count.WOULD_DELETE,
    Count.IGNORED_DELETED,
    Count.ALREADY_DELETED,
    Count.UNCHANGED,
)


class RunReport:
    """Counters for the whole run, the dead-letter writer, and the final outputs."""

    def __init__(
        self,
        dead_letter_path: str | None,
        report_path: str | None,
        *,
        dry_run: bool,
        success_path: str | None = None,
    ) -> None:
        """Start the clock; the run id tells this run's lines apart in appended files."""
        self.run_id = uuid.uuid4().hex
        self.dead_letters = JsonlWriter(dead_letter_path)
        self.successes = JsonlWriter(success_path)
        self.report_path = Path(report_path).expanduser() if report_path else None
        self.dry_run = dry_run
        self.started = datetime.now(UTC)
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self.streams: dict[str, StreamStats] = {}
        self.errors: list[str] = []
        self._logged_rejections = 0
        self._job_states: dict[str, dict[str, str]] = {}
        self._last_progress: tuple[float, dict[str, int]] = (self._t0, {})
        self._rejections_by_code: dict[str, int] = {}
        # The SCHEMA last written to the dead-letter file, per stream (see reject).
        self._schemas_written: dict[str, Mapping[str, Any]] = {}
        # The load plan's steps, with what each did (see LoadOrder.plan_report).
        self.plan: list[dict[str, Any]] = []
        # Keys the run's records carry, for the dry run's missing-parent check.
        self.run_keys = RunKeys()

    def stream(self, name: str) -> StreamStats:
        """The counters of ``name`` (created on first use)."""
        with self._lock:
            return self.streams.setdefault(name, StreamStats())

    def add(self, name: str, count: Count, n: int = 1) -> None:
        """Add ``n`` to one counter of stream ``name``."""
        with self._lock:
            # Not setdefault(name, StreamStats()): building the default costs more than the
            # add itself, once per record.
            stats = self.streams.get(name)
            if stats is None:
                stats = self.streams[name] = StreamStats()
            stats.counts[count] += n

    def add_many(self, name: str, counts: Mapping[Count, int]) -> None:
        """Add to several counters of stream ``name`` at once."""
        with self._lock:
            stats = self.streams.setdefault(name, StreamStats())
            for count, n in counts.items():
                stats.counts[count] += n

    def add_batch(self, name: str, api: str, records: int) -> None:
        """One batch of ``records`` went (or, in a dry run, would go) through ``api``.

        Consecutive batches of one API are merged, so a long run's report stays small.
        """
        with self._lock:
            runs = self.streams.setdefault(name, StreamStats()).api_batches
            if runs and runs[-1]["api"] == api:
                runs[-1]["batches"] += 1
                runs[-1]["records"] += records
            else:
                runs.append({"api": api, "batches": 1, "records": records})

    def forecast(self, name: str) -> StreamForecast:
        """What the dry run predicts for stream ``name`` (created on first use)."""
        with self._lock:
            stats = self.streams.setdefault(name, StreamStats())
            if stats.forecast is None:
                stats.forecast = StreamForecast()
            return stats.forecast

    def add_job(self, name: str, job: dict[str, Any]) -> None:
        """Record a Bulk job id with its counts."""
        with self._lock:
            self.streams.setdefault(name, StreamStats()).bulk_jobs.append(job)

    def reject(
        self,
        stream: str,
        record: dict[str, Any],
        detail: ErrorDetail,
        *,
        source: str,
        sobject: str,
        operation: str,
        key: str = "",
        job_id: str | None = None,
        schema: tuple[Mapping[str, Any], list[str]] | None = None,
    ) -> None:
        """Dead-letter one record, log it, and count it by its outcome.

        ``schema`` is the stream's SCHEMA and key properties: the first line of each stream
        (and of each new SCHEMA) in a run carries them, so that ``dead-letters-to-singer``
        can replay the lines with the schema the tap sent.

        ``NOT_SENT`` and ``OUTCOME_UNKNOWN`` records have their own counters; every other
        code counts as failed. The first :data:`LOGGED_REJECTIONS` are logged in full, so a
        run without a dead-letter file still says what went wrong.
        """
        entry: dict[str, Any] = {
            "stream": stream,
            "sobject": sobject,
            "operation": operation,
            "record": record,
            **detail.as_dict(),
            "source": source,
        }
        if job_id:
            entry["job_id"] = job_id
        if schema is not None:
            with self._lock:
                first = self._schemas_written.get(stream) is not schema[0]
                self._schemas_written[stream] = schema[0]
            if first:
                entry["schema"], entry["key_properties"] = schema
        entry["run_id"] = self.run_id
        entry["time"] = datetime.now(UTC).isoformat()
        self.dead_letters.write(entry)
        counter = _COUNTER_BY_CODE.get(detail.code, Count.FAILED)
        with self._lock:
            self._rejections_by_code[detail.code] = self._rejections_by_code.get(detail.code, 0) + 1
            shown = self._logged_rejections < LOGGED_REJECTIONS
            self._logged_rejections += 1
        if shown:
            # Messages built by the target already start with stream and key.
            text = detail.message.removeprefix(f"stream {stream!r}, record {key}: ")
            LOGGER.warning(
                "rejected: stream %r, record %s: %s: %s",
                stream,
                key or "(no key)",
                detail.code,
                text,
            )
        self.add_many(stream, {counter: 1, Count.REJECTED_LOCALLY: int(source == "target")})

    def succeed(
        self, stream: str, outcome: Count, key: dict[str, Any], salesforce_id: str | None
    ) -> None:
        """Count one written record (``created``, ``updated`` or ``deleted``) and list it."""
        self.add(stream, outcome)
        if self.successes.path is not None:
            self.successes.write(
                {
                    "stream": stream,
                    "key": key,
                    "id": salesforce_id,
                    "outcome": outcome.value,
                    "run_id": self.run_id,
                    "time": datetime.now(UTC).isoformat(),
                }
            )

    def log_rejection_counts(self) -> None:
        """After the first rejections logged in full, the rest as counts per error code."""
        with self._lock:
            total, by_code = self._logged_rejections, dict(self._rejections_by_code)
        if total <= LOGGED_REJECTIONS:
            return
        counts = ", ".join(f"{code} x{n}" for code, n in sorted(by_code.items()))
        LOGGER.warning(
            "%d records rejected in all (the first %d are logged above); by error code: %s",
            total,
            LOGGED_REJECTIONS,
            counts,
        )

    def log_ignored_deletes(self) -> None:
        """Once per stream: how many rows deleted at the source were not written."""
        with self._lock:
            ignored = {n: s[Count.IGNORED_DELETED] for n, s in self.streams.items()}
        for name, n in ignored.items():
            if n:
                LOGGER.info(
                    "stream %r: %d record(s) deleted at the source (_sdc_deleted_at) ignored; "
                    "set deleted_records to delete to delete them in Salesforce",
                    name,
                    n,
                )

    def set_job_state(self, stream: str, job_id: str, state: str) -> None:
        """The latest state seen of a Bulk job (shown by the progress lines)."""
        with self._lock:
            jobs = self._job_states.setdefault(stream, {})
            if state in ("JobComplete", "Failed", "Aborted"):
                jobs.pop(job_id, None)
            else:
                jobs[job_id] = state

    def forget_job(self, stream: str, job_id: str) -> None:
        """A Bulk job this run no longer waits for (finished, failed or given up)."""
        with self._lock:
            self._job_states.get(stream, {}).pop(job_id, None)

    def log_progress(self, api_calls: int, usage: str) -> None:
        """Log one line per stream: counters so far, records/s since the last line, open jobs."""
        now = time.monotonic()
        with self._lock:
            elapsed = max(now - self._last_progress[0], 1e-9)
            previous = self._last_progress[1]
            lines = []
            for name, s in self.streams.items():
                done = s.written + s[Count.FAILED]
                rate = (done - previous.get(name, 0)) / elapsed
                previous[name] = done
                line = (
                    f"progress {name}: received={s[Count.RECEIVED]} sent={s[Count.SENT]} "
                    f"written={s.written} failed={s[Count.FAILED]} rate={rate:.0f} records/s"
                )
                jobs = self._job_states.get(name)
                if jobs:
                    line += " bulk jobs: " + ", ".join(f"{j} {st}" for j, st in jobs.items())
                lines.append(line)
            self._last_progress = (now, previous)
        for line in lines:
            LOGGER.info(line)
        if lines:
            LOGGER.info(
                "progress: api calls (this run)=%d org api usage (24 h)=%s", api_calls, usage
            )

    def as_dict(
        self, *, status: str, api_calls: int, usage: tuple[int | None, int | None]
    ) -> dict[str, Any]:
        """The JSON run report."""
        with self._lock:
            streams = {name: stats.as_dict() for name, stats in self.streams.items()}
        return {
            "status": status,
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "started_at": self.started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "duration_seconds": round(time.monotonic() - self._t0, 3),
            "api_calls": api_calls,
            "api_usage": {"used": usage[0], "limit": usage[1]},
            "dead_letter_path": str(self.dead_letters.path) if self.dead_letters.path else None,
            "dead_letters_written": self.dead_letters.lines,
            "success_path": str(self.successes.path) if self.successes.path else None,
            "streams": streams,
            **(
                {
                    "predicted_api_calls": sum(
                        s["predicted_api_calls"]["total"]
                        for s in streams.values()
                        if "predicted_api_calls" in s
                    )
                }
                if self.dry_run
                else {}
            ),
            "plan": [dict(step) for step in self.plan],
            "errors": list(self.errors),
        }

    def finish(
        self, *, status: str, api_calls: int, usage: tuple[int | None, int | None]
    ) -> dict[str, Any]:
        """Close the dead-letter and success files, write the report file; return the report."""
        self.dead_letters.close()
        self.successes.close()
        self.log_rejection_counts()
        self.log_ignored_deletes()
        report = self.as_dict(status=status, api_calls=api_calls, usage=usage)
        if self.report_path is not None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return report
