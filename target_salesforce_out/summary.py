"""The summary table printed on stderr at the end of a run, built from the run report."""

from __future__ import annotations

from typing import Any

from target_salesforce_out.reporting import Count

# Summary table columns after "received": heading and counter, for a run and for a dry run.
_WRITTEN_COLUMNS = (
    ("created", Count.CREATED),
    ("updated", Count.UPDATED),
    ("deleted", Count.DELETED),
)
_DRY_RUN_COLUMNS = (
    ("would create", Count.WOULD_CREATE),
    ("would update", Count.WOULD_UPDATE),
    ("would delete", Count.WOULD_DELETE),
)
# Shown only when some stream has such records, so the usual table stays narrow.
_RARE_COLUMNS = (
    ("not sent", Count.NOT_SENT),
    ("unknown", Count.OUTCOME_UNKNOWN),
    ("already deleted", Count.ALREADY_DELETED),
    ("ignored deleted", Count.IGNORED_DELETED),
    ("mirror deleted", Count.MIRROR_DELETED),
    ("unchanged", Count.UNCHANGED),
    ("from ledger", Count.RETRIED_FROM_LEDGER),
)


def summary_table(report: dict[str, Any]) -> str:
    """A plain-text table of the report, for stderr at the end of a run.

    The "not sent" and "unknown" columns appear only when a stream has such records, so
    the usual table stays narrow while every received record is still accounted for.
    """
    streams = report["streams"]
    counted = [
        *(_DRY_RUN_COLUMNS if report["dry_run"] else _WRITTEN_COLUMNS),
        ("failed", Count.FAILED),
        *(
            (label, count)
            for label, count in _RARE_COLUMNS
            if any(s[count] for s in streams.values())
        ),
    ]
    head = ["stream", "object", "api", "operation", "received", *(label for label, _ in counted)]
    head += list(_PREDICTED_COLUMNS) if report["dry_run"] else []
    rows: list[list[Any]] = [head]
    for name, s in streams.items():
        row = [name, s["sobject"], s["api"], s["operation"], s[Count.RECEIVED]]
        row += [s[count] for _, count in counted]
        rows.append(row + (_predicted(s) if report["dry_run"] else []))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    usage = report["api_usage"]
    status = str(report["status"])
    rejected = sum(s[Count.FAILED] for s in streams.values())
    if status == "succeeded" and rejected:
        status += f" with {rejected} rejected"
    # This run's calls, and the org's rolling 24-hour usage (all clients), told apart.
    tail = f"status: {status}  api calls (this run): {report['api_calls']}"
    if usage["used"] is not None:
        tail += f"  org api usage (24 h): {usage['used']}/{usage['limit']}"
    tail += f"  time: {report['duration_seconds']}s"
    if report["dead_letter_path"] and report.get("dead_letters_written"):
        tail += f"  dead letters: {report['dead_letter_path']}"
    if report["dry_run"] and "predicted_api_calls" in report:
        tail += f"  predicted api calls (real run): {report['predicted_api_calls']}"
    return "\n".join([*lines, tail])


# A dry run's predictions (see predictions.py), after the counters.
_PREDICTED_COLUMNS = ("missing parents", "predicted calls")


def _predicted(stream: dict[str, Any]) -> list[Any]:
    """A dry-run row's missing parents (count) and predicted API calls (total)."""
    missing = sum(m["count"] for m in (stream.get("missing_parents") or {}).values())
    calls = stream.get("predicted_api_calls") or {}
    return [missing, calls.get("total", 0)]
