"""What happened to every record: dead-letter file, run report, summary table, progress.

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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from target_salesforce_out.errors import ErrorDetail

LOGGER = logging.getLogger("target_salesforce_out")
PROGRESS_INTERVAL_SECONDS = 10.0
# Rejections logged one by one; after these, only counts per error code (at the end).
LOGGED_REJECTIONS = 20
# Codes of records whose fate Salesforce never confirmed: counted apart from "failed".
NOT_SENT = "NOT_SENT"
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
_COUNTER_BY_CODE = {
    NOT_SENT: "not_sent",
    OUTCOME_UNKNOWN: "outcome_unknown",
    # A Bulk row no result mentions: it may or may not have been written.
    "BULK_RESULT_MISSING": "outcome_unknown",
}


# Records keep exact numbers (Decimal as a JSON number with every digit) and ISO dates; the
# Bulk sink stores records with the same settings, so both APIs dead-letter alike.
RECORD_ENCODER = msgspec.json.Encoder(enc_hook=str, decimal_format="number")


@dataclass
class StreamStats:
    """Counters of one stream."""

    sobject: str = ""
    api: str = "rest"
    operation: str = "upsert"
    received: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    # Never sent (the run stopped first), and sent with no answer (may or may not be written).
    not_sent: int = 0
    outcome_unknown: int = 0
    rejected_locally: int = 0
    retried: int = 0
    would_create: int = 0
    would_update: int = 0
    would_delete: int = 0
    bulk_jobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def written(self) -> int:
        """Records Salesforce confirmed."""
        return self.created + self.updated + self.deleted

    @property
    def accounted(self) -> int:
        """Records with an outcome; equals ``received`` once the run has ended."""
        outcomes = self.written + self.failed + self.not_sent + self.outcome_unknown
        return outcomes + self.would_create + self.would_update + self.would_delete


class JsonlWriter:
    """Appends entries to a JSONL file (dead letters, successes), one flushed line each."""

    def __init__(self, path: str | None) -> None:
        """Open lazily: no file appears when nothing is rejected."""
        self.path = Path(path).expanduser() if path else None
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, entry: dict[str, Any]) -> None:
        """Write one entry."""
        if self.path is None:
            return
        line = RECORD_ENCODER.encode(entry).decode()
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()
            self.lines += 1

    def close(self) -> None:
        """Close the file if it was opened."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


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

    def stream(self, name: str) -> StreamStats:
        """The counters of ``name`` (created on first use)."""
        with self._lock:
            return self.streams.setdefault(name, StreamStats())

    def add(self, name: str, **counts: int) -> None:
        """Add to counters of stream ``name``."""
        with self._lock:
            stats = self.streams.setdefault(name, StreamStats())
            for key, value in counts.items():
                setattr(stats, key, getattr(stats, key) + value)

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
    ) -> None:
        """Dead-letter one record, log it, and count it by its outcome.

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
        entry["run_id"] = self.run_id
        entry["time"] = datetime.now(UTC).isoformat()
        self.dead_letters.write(entry)
        counter = _COUNTER_BY_CODE.get(detail.code, "failed")
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
        self.add(stream, **{counter: 1}, rejected_locally=int(source == "target"))

    def succeed(
        self, stream: str, outcome: str, key: dict[str, Any], salesforce_id: str | None
    ) -> None:
        """Count one written record (``created``, ``updated`` or ``deleted``) and list it."""
        self.add(stream, **{outcome: 1})
        if self.successes.path is not None:
            self.successes.write(
                {
                    "stream": stream,
                    "key": key,
                    "id": salesforce_id,
                    "outcome": outcome,
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
                done = s.written + s.failed
                rate = (done - previous.get(name, 0)) / elapsed
                previous[name] = done
                line = (
                    f"progress {name}: received={s.received} sent={s.sent} written={s.written} "
                    f"failed={s.failed} rate={rate:.0f} records/s"
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
            streams = {name: asdict(stats) for name, stats in self.streams.items()}
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
            "errors": list(self.errors),
        }

    def finish(
        self, *, status: str, api_calls: int, usage: tuple[int | None, int | None]
    ) -> dict[str, Any]:
        """Close the dead-letter and success files, write the report file; return the report."""
        self.dead_letters.close()
        self.successes.close()
        self.log_rejection_counts()
        report = self.as_dict(status=status, api_calls=api_calls, usage=usage)
        if self.report_path is not None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return report


def summary_table(report: dict[str, Any]) -> str:
    """A plain-text table of the report, for stderr at the end of a run.

    The "not sent" and "unknown" columns appear only when a stream has such records, so
    the usual table stays narrow while every received record is still accounted for.
    """
    dry = report["dry_run"]
    streams = report["streams"]
    extra = [
        (label, name)
        for label, name in (("not sent", "not_sent"), ("unknown", "outcome_unknown"))
        if any(s.get(name) for s in streams.values())
    ]
    head = ["stream", "object", "api", "operation", "received"]
    head += (
        ["would create", "would update", "would delete"]
        if dry
        else ["created", "updated", "deleted"]
    )
    head += ["failed", *(label for label, _ in extra)]
    rows = [head]
    for name, s in streams.items():
        counts = (
            [s["would_create"], s["would_update"], s["would_delete"]]
            if dry
            else [s["created"], s["updated"], s["deleted"]]
        )
        rows.append(
            [
                name,
                s["sobject"],
                s["api"],
                s["operation"],
                s["received"],
                *counts,
                s["failed"],
                *(s[key] for _, key in extra),
            ]
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    usage = report["api_usage"]
    status = str(report["status"])
    rejected = sum(s["failed"] for s in streams.values())
    if status == "succeeded" and rejected:
        status += f" with {rejected} rejected"
    # This run's calls, and the org's rolling 24-hour usage (all clients), told apart.
    tail = f"status: {status}  api calls (this run): {report['api_calls']}"
    if usage["used"] is not None:
        tail += f"  org api usage (24 h): {usage['used']}/{usage['limit']}"
    tail += f"  time: {report['duration_seconds']}s"
    if report["dead_letter_path"] and report.get("dead_letters_written"):
        tail += f"  dead letters: {report['dead_letter_path']}"
    return "\n".join([*lines, tail])
