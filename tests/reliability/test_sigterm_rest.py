"""SIGTERM on a REST run: records buffered when the signal arrives are written, STATE covers them.

The Bulk counterparts (drain and wait for the job; a second signal aborts open jobs) are in
tests/target/test_bulk_sink.py.
"""

from __future__ import annotations

import json
import signal
import subprocess

from helpers import CONTACT_PROPS, CONTACT_STREAM, TARGET, base_config, contacts, schema, state
from loadcheck import wait_until


def test_sigterm_writes_the_buffered_records_then_emits_state(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={
            "contacts": CONTACT_STREAM,
            "accounts": {"sobject": "Account", "operation": "insert"},
        },
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [str(TARGET), "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # 30 contacts stay buffered (a batch is 800). The accounts SCHEMA after the STATE makes the
    # target describe Account: once that call is seen, every line before it has been read.
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(30),
        state({"bookmark": 30}),
        schema("accounts", {"name": {"type": "string"}}),
    ]
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
    process.stdin.flush()  # stdin stays open: the target is waiting for more input
    wait_until(
        lambda: any(r["path"].endswith("/Account/describe") for r in salesforce_emulator.requests),
        "the Account describe",
    )
    assert salesforce_emulator.records("Contact") == []  # nothing written yet

    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr.decode()
    assert "interrupted by signal" in stderr.decode()
    assert [json.loads(line) for line in stdout.decode().splitlines()] == [{"bookmark": 30}]
    stored = {r["External_Id__c"]: r for r in salesforce_emulator.records("Contact")}
    assert sorted(stored) == sorted(f"C-{i}" for i in range(30))
    assert stored["C-7"]["Email"] == "c7@example.com"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
    stats = report["streams"]["contacts"]
    assert (stats["received"], stats["created"], stats["failed"]) == (30, 30, 0)
