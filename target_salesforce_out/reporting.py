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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from target_salesforce_out.errors import ErrorDetail

LOGGER = logging.getLogger("target_salesforce_out")
PROGRESS_INTERVAL_SECONDS = 10.0


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


class DeadLetterWriter:
    """Appends rejected records to a JSONL file, one flushed line each."""

    def __init__(self, path: str | None) -> None:
        """Open lazily: no file appears when nothing is rejected."""
        self.path = Path(path).expanduser() if path else None
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        """Write one rejected record."""
        if self.path is None:
            return
        line = RECORD_ENCODER.encode(entry).decode()
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file if it was opened."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class RunReport:
    """Counters for the whole run, the dead-letter writer, and the final outputs."""

    def __init__(
        self, dead_letter_path: str | None, report_path: str | None, *, dry_run: bool
    ) -> None:
        """Start the clock."""
        self.dead_letters = DeadLetterWriter(dead_letter_path)
        self.report_path = Path(report_path).expanduser() if report_path else None
        self.dry_run = dry_run
        self.started = datetime.now(UTC)
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self.streams: dict[str, StreamStats] = {}
        self.errors: list[str] = []

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
        job_id: str | None = None,
    ) -> None:
        """Dead-letter one record and count it as failed."""
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
        entry["time"] = datetime.now(UTC).isoformat()
        self.dead_letters.write(entry)
        self.add(stream, failed=1, rejected_locally=int(source == "target"))

    def log_progress(self, api_calls: int, usage: str) -> None:
        """Log one line per stream with its counters so far."""
        with self._lock:
            lines = [
                f"progress {name}: received={s.received} sent={s.sent} written={s.written} "
                f"failed={s.failed} api_calls={api_calls} api_usage={usage}"
                for name, s in self.streams.items()
            ]
        for line in lines:
            LOGGER.info(line)

    def as_dict(
        self, *, status: str, api_calls: int, usage: tuple[int | None, int | None]
    ) -> dict[str, Any]:
        """The JSON run report."""
        with self._lock:
            streams = {name: asdict(stats) for name, stats in self.streams.items()}
        return {
            "status": status,
            "dry_run": self.dry_run,
            "started_at": self.started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "duration_seconds": round(time.monotonic() - self._t0, 3),
            "api_calls": api_calls,
            "api_usage": {"used": usage[0], "limit": usage[1]},
            "dead_letter_path": str(self.dead_letters.path) if self.dead_letters.path else None,
            "streams": streams,
            "errors": list(self.errors),
        }

    def finish(
        self, *, status: str, api_calls: int, usage: tuple[int | None, int | None]
    ) -> dict[str, Any]:
        """Close the dead-letter file and write the report file; return the report."""
        self.dead_letters.close()
        report = self.as_dict(status=status, api_calls=api_calls, usage=usage)
        if self.report_path is not None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return report


def summary_table(report: dict[str, Any]) -> str:
    """A plain-text table of the report, for stderr at the end of a run."""
    dry = report["dry_run"]
    head = ["stream", "object", "api", "operation", "received"]
    head += (
        ["would create", "would update", "would delete"]
        if dry
        else ["created", "updated", "deleted"]
    )
    head += ["failed"]
    rows = [head]
    for name, s in report["streams"].items():
        counts = (
            [s["would_create"], s["would_update"], s["would_delete"]]
            if dry
            else [s["created"], s["updated"], s["deleted"]]
        )
        rows.append(
            [name, s["sobject"], s["api"], s["operation"], s["received"], *counts, s["failed"]]
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    usage = report["api_usage"]
    tail = f"status: {report['status']}  api calls: {report['api_calls']}"
    if usage["used"] is not None:
        tail += f"  org api usage: {usage['used']}/{usage['limit']}"
    tail += f"  time: {report['duration_seconds']}s"
    if report["dead_letter_path"]:
        tail += f"  dead letters: {report['dead_letter_path']}"
    return "\n".join([*lines, tail])
