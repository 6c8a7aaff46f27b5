"""Progress lines: one per stream at a fixed interval while a run is going."""

from __future__ import annotations

import logging
import re
import time

from target_salesforce_out.reporting import Count
from target_salesforce_out.runtime import Runtime


def test_progress_lines_every_interval(caplog):
    runtime = Runtime(
        {"domain": "http://127.0.0.1:1", "access_token": "x", "instance_url": "http://127.0.0.1:1"}
    )
    runtime.report.add_many(
        "contacts",
        {Count.RECEIVED: 10, Count.SENT: 8, Count.CREATED: 5, Count.UPDATED: 2, Count.FAILED: 1},
    )
    with caplog.at_level(logging.INFO, logger="target_salesforce_out"):
        runtime.start_progress(interval=0.05)
        deadline = time.monotonic() + 5
        while caplog.text.count("progress contacts:") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        runtime.finish("succeeded")
    line = next(
        r.getMessage() for r in caplog.records if r.getMessage().startswith("progress contacts:")
    )
    assert re.fullmatch(
        r"progress contacts: received=10 sent=8 written=7 failed=1 rate=\d+ records/s", line
    )
    assert "progress: api calls (this run)=0 org api usage (24 h)=unknown" in caplog.text
    assert caplog.text.count("progress contacts:") >= 2
    count = caplog.text.count("progress contacts:")
    time.sleep(0.2)
    assert caplog.text.count("progress contacts:") == count  # stopped by finish()


def test_progress_shows_records_per_second_and_open_bulk_jobs(caplog):
    runtime = Runtime(
        {"domain": "http://127.0.0.1:1", "access_token": "x", "instance_url": "http://127.0.0.1:1"}
    )
    report = runtime.report
    report.add_many("invoices", {Count.RECEIVED: 500, Count.SENT: 500})
    report.set_job_state("invoices", "750J1", "InProgress")
    report.set_job_state("invoices", "750J2", "UploadComplete")
    report.set_job_state("invoices", "750J0", "JobComplete")  # finished jobs are not listed
    with caplog.at_level(logging.INFO, logger="target_salesforce_out"):
        report.log_progress(3, "3/100")
        report.add("invoices", Count.CREATED, 400)
        report.set_job_state("invoices", "750J1", "JobComplete")
        report._last_progress = (report._last_progress[0] - 2.0, report._last_progress[1])
        report.log_progress(5, "5/100")
    lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("progress invoices")
    ]
    assert lines[0].endswith("rate=0 records/s bulk jobs: 750J1 InProgress, 750J2 UploadComplete")
    # 400 written in the 2 s between the two lines.
    assert re.search(r"rate=(19\d|200) records/s bulk jobs: 750J2 UploadComplete$", lines[1])
    runtime.finish("succeeded")
