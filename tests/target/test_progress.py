"""Progress lines: one per stream at a fixed interval while a run is going."""

from __future__ import annotations

import logging
import time

from target_salesforce_out.runtime import Runtime


def test_progress_lines_every_interval(caplog):
    runtime = Runtime(
        {"domain": "http://127.0.0.1:1", "access_token": "x", "instance_url": "http://127.0.0.1:1"}
    )
    runtime.report.add("contacts", received=10, sent=8, created=5, updated=2, failed=1)
    with caplog.at_level(logging.INFO, logger="target_salesforce_out"):
        runtime.start_progress(interval=0.05)
        deadline = time.monotonic() + 5
        while caplog.text.count("progress contacts:") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        runtime.finish("succeeded")
    line = next(
        r.getMessage() for r in caplog.records if r.getMessage().startswith("progress contacts:")
    )
    assert (
        line
        == "progress contacts: received=10 sent=8 written=7 failed=1 api_calls=0 api_usage=unknown"
    )
    assert caplog.text.count("progress contacts:") >= 2
    count = caplog.text.count("progress contacts:")
    time.sleep(0.2)
    assert caplog.text.count("progress contacts:") == count  # stopped by finish()
