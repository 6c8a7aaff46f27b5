"""The run report (target_salesforce_out.reporting): counters, balance, summary table, files.

Counters are typed (:class:`Count`); the report JSON keeps the names and order it always had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.reporting import Count, RunReport, StreamStats
from target_salesforce_out.summary import summary_table

STREAM_KEYS = [
    "sobject",
    "api",
    "operation",
    "received",
    "sent",
    "created",
    "updated",
    "deleted",
    "failed",
    "not_sent",
    "outcome_unknown",
    "rejected_locally",
    "retried",
    "would_create",
    "would_update",
    "would_delete",
    "ignored_deleted",
    "already_deleted",
    "mirror_deleted",
    "mirror_failed",
    "unchanged",
    "retried_from_ledger",
    "lock_failed",
    "lock_retried",
    "lock_retry_failed",
    "bulk_jobs",
    "api_batches",
]


def _report(tmp_path: Path, **kwargs: Any) -> RunReport:
    return RunReport(
        kwargs.pop("dead_letter_path", None),
        kwargs.pop("report_path", None),
        dry_run=kwargs.pop("dry_run", False),
        **kwargs,
    )


def _finish(report: RunReport, status: str = "succeeded") -> dict[str, Any]:
    return report.finish(status=status, api_calls=7, usage=(None, None))


def test_stream_entry_keeps_its_json_keys_in_order(tmp_path: Path) -> None:
    report = _report(tmp_path, report_path=str(tmp_path / "report.json"))
    stats = report.stream("contacts")
    stats.sobject, stats.api, stats.operation = "Contact", "bulk", "hard_delete"
    report.add_many("contacts", {Count.RECEIVED: 2, Count.DELETED: 2})
    report.add_job("contacts", {"id": "750A", "state": "JobComplete"})
    returned = _finish(report)
    written = json.loads((tmp_path / "report.json").read_text())
    assert list(returned["streams"]["contacts"]) == STREAM_KEYS
    entry = written["streams"]["contacts"]
    assert list(entry) == STREAM_KEYS
    assert entry["operation"] == "hard_delete"
    assert (entry["received"], entry["deleted"], entry["failed"]) == (2, 2, 0)
    assert entry["bulk_jobs"] == [{"id": "750A", "state": "JobComplete"}]


@pytest.mark.parametrize(
    ("code", "source", "counted"),
    [
        pytest.param("FIELD_CUSTOM_VALIDATION_EXCEPTION", "salesforce", {Count.FAILED: 1}, id="sf"),
        pytest.param(
            "MISSING_KEY", "target", {Count.FAILED: 1, Count.REJECTED_LOCALLY: 1}, id="local"
        ),
        pytest.param("NOT_FOUND", "dry_run", {Count.FAILED: 1}, id="dry-run"),
        pytest.param(
            "NOT_SENT", "target", {Count.NOT_SENT: 1, Count.REJECTED_LOCALLY: 1}, id="not-sent"
        ),
        pytest.param(
            "OUTCOME_UNKNOWN",
            "target",
            {Count.OUTCOME_UNKNOWN: 1, Count.REJECTED_LOCALLY: 1},
            id="outcome-unknown",
        ),
        pytest.param(
            "BULK_RESULT_MISSING",
            "target",
            {Count.OUTCOME_UNKNOWN: 1, Count.REJECTED_LOCALLY: 1},
            id="bulk-result-missing",
        ),
    ],
)
def test_a_rejection_is_counted_by_its_code_and_source(
    tmp_path: Path, code: str, source: str, counted: dict[Count, int]
) -> None:
    report = _report(tmp_path)
    report.reject(
        "contacts",
        {"id": 1},
        ErrorDetail(code, "why"),
        source=source,
        sobject="Contact",
        operation="upsert",
    )
    stats = report.streams["contacts"]
    assert {c: n for c, n in stats.counts.items() if n} == counted


@pytest.mark.parametrize(
    ("counts", "accounted", "written"),
    [
        pytest.param({Count.CREATED: 2, Count.UPDATED: 3, Count.DELETED: 1}, 6, 6, id="written"),
        pytest.param(
            {Count.FAILED: 1, Count.NOT_SENT: 2, Count.OUTCOME_UNKNOWN: 3}, 6, 0, id="not-written"
        ),
        pytest.param(
            {Count.WOULD_CREATE: 1, Count.WOULD_UPDATE: 1, Count.WOULD_DELETE: 1}, 3, 0, id="dry"
        ),
        # Sent, retried and rejected locally describe records already counted elsewhere.
        pytest.param(
            {Count.SENT: 5, Count.RETRIED: 2, Count.REJECTED_LOCALLY: 1, Count.FAILED: 1},
            1,
            0,
            id="not-outcomes",
        ),
    ],
)
def test_every_outcome_counts_once_toward_the_balance(
    counts: dict[Count, int], accounted: int, written: int
) -> None:
    stats = StreamStats()
    for count, n in counts.items():
        stats.counts[count] += n
    assert (stats.accounted, stats.written) == (accounted, written)


def _table(tmp_path: Path, counts: dict[Count, int], **kwargs: Any) -> tuple[list[str], str]:
    status = kwargs.pop("status", "succeeded")
    report = _report(tmp_path, **kwargs)
    stats = report.stream("contacts")
    stats.sobject = "Contact"
    report.add_many("contacts", counts)
    lines = summary_table(_finish(report, status)).splitlines()
    return lines[0].split("  "), lines[-1]


@pytest.mark.parametrize(
    ("counts", "dry_run", "columns"),
    [
        pytest.param(
            {Count.RECEIVED: 1, Count.CREATED: 1},
            False,
            ["created", "updated", "deleted", "failed"],
            id="run",
        ),
        pytest.param(
            {Count.RECEIVED: 1, Count.WOULD_CREATE: 1},
            True,
            [
                "would create",
                "would update",
                "would delete",
                "failed",
                "missing parents",
                "predicted calls",
            ],
            id="dry-run",
        ),
        pytest.param(
            {Count.RECEIVED: 2, Count.CREATED: 1, Count.NOT_SENT: 1},
            False,
            ["created", "updated", "deleted", "failed", "not sent"],
            id="not-sent-shown-when-any",
        ),
        pytest.param(
            {Count.RECEIVED: 3, Count.NOT_SENT: 1, Count.OUTCOME_UNKNOWN: 2},
            False,
            ["created", "updated", "deleted", "failed", "not sent", "unknown"],
            id="both-rare-columns",
        ),
    ],
)
def test_summary_table_columns(
    tmp_path: Path, counts: dict[Count, int], dry_run: bool, columns: list[str]
) -> None:
    head, _ = _table(tmp_path, counts, dry_run=dry_run)
    assert [c.strip() for c in head if c.strip()] == [
        "stream",
        "object",
        "api",
        "operation",
        "received",
        *columns,
    ]


@pytest.mark.parametrize(
    ("status", "failed", "shown"),
    [
        pytest.param("succeeded", 0, "status: succeeded  api calls", id="clean"),
        pytest.param(
            "succeeded", 3, "status: succeeded with 3 rejected  api calls", id="with-rejected"
        ),
        pytest.param("failed", 3, "status: failed  api calls", id="failed-says-no-more"),
        pytest.param("interrupted", 1, "status: interrupted  api calls", id="interrupted"),
    ],
)
def test_status_text(tmp_path: Path, status: str, failed: int, shown: str) -> None:
    _, tail = _table(tmp_path, {Count.RECEIVED: failed, Count.FAILED: failed}, status=status)
    assert tail.startswith(shown)


@pytest.mark.parametrize(
    ("dead_letter", "rejected", "footer"),
    [
        pytest.param(True, True, True, id="written"),
        pytest.param(True, False, False, id="path-but-nothing-written"),
        pytest.param(False, True, False, id="no-path"),
    ],
)
def test_dead_letter_footer_only_when_some_were_written(
    tmp_path: Path, dead_letter: bool, rejected: bool, footer: bool
) -> None:
    path = tmp_path / "dead.jsonl"
    report = _report(tmp_path, dead_letter_path=str(path) if dead_letter else None)
    report.stream("contacts")
    if rejected:
        detail = ErrorDetail("MISSING_KEY", "no key")
        report.reject(
            "contacts", {"a": 1}, detail, source="target", sobject="Contact", operation="insert"
        )
    tail = summary_table(_finish(report)).splitlines()[-1]
    assert (f"dead letters: {path}" in tail) is footer
    assert path.exists() is footer  # no file appears when nothing is rejected


@pytest.mark.parametrize(
    ("outcome", "key", "salesforce_id"),
    [
        pytest.param(Count.CREATED, {"External_Id__c": "A-1"}, "003A", id="created"),
        pytest.param(Count.UPDATED, {"Id": "003B"}, "003B", id="updated"),
        pytest.param(Count.DELETED, {"id": 7}, None, id="deleted-without-id"),
    ],
)
def test_success_lines(
    tmp_path: Path, outcome: Count, key: dict[str, Any], salesforce_id: str | None
) -> None:
    path = tmp_path / "ok.jsonl"
    report = _report(tmp_path, success_path=str(path))
    report.succeed("contacts", outcome, key, salesforce_id)
    _finish(report)
    (line,) = path.read_text().splitlines()
    entry = json.loads(line)
    assert {k: entry[k] for k in ("stream", "key", "id", "outcome", "run_id")} == {
        "stream": "contacts",
        "key": key,
        "id": salesforce_id,
        "outcome": outcome.value,
        "run_id": report.run_id,
    }
    assert report.streams["contacts"][outcome] == 1


def test_no_success_file_without_its_path_but_still_counted(tmp_path: Path) -> None:
    report = _report(tmp_path)
    report.succeed("contacts", Count.CREATED, {"id": 1}, "003A")
    _finish(report)
    assert report.successes.path is None
    assert list(tmp_path.iterdir()) == []
    assert report.streams["contacts"][Count.CREATED] == 1
