"""Every Singer message type a singer-sdk tap sends, through the target's CLI into the emulator.

A singer-sdk tap (``sdk_tap.py``, run as its own process) sends SCHEMA, ACTIVATE_VERSION,
RECORD or BATCH, and STATE; its output is piped into the target unchanged. A hand-written
stream mixes all five types for one stream. Each run is checked by its counts, the STATE it
emits and the records in the org.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import record, run_target, state
from invoice_batches import SCHEMA, assert_landed, batch, config, jsonl_bytes, write_jsonl_gz
from sdk_tap import invoice_rows

SDK_TAP = Path(__file__).with_name("sdk_tap.py")
ACTIVATE_VERSION_NOTE = "ACTIVATE_VERSION ignored"


def tap_output(tmp_path: Path, tap_config: dict[str, Any]) -> str:
    config_path = tmp_path / "tap.json"
    config_path.write_text(json.dumps(tap_config), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(SDK_TAP), "--config", str(config_path)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return proc.stdout.decode()


def types_of(output: str) -> list[str]:
    return [json.loads(line)["type"] for line in output.splitlines()]


def batch_config(tmp_path: Path, fmt: str) -> dict[str, Any]:
    return {
        "encoding": {"format": fmt, "compression": "gzip"},
        "storage": {"root": (tmp_path / "batches").as_uri()},
        "batch_size": 7,
    }


@pytest.mark.parametrize(
    ("fmt", "sent"),
    [
        pytest.param(None, "RECORD", id="records"),
        pytest.param("jsonl", "BATCH", id="batch-jsonl"),
        pytest.param("parquet", "BATCH", id="batch-parquet"),
    ],
)
def test_a_singer_sdk_taps_output_loads_whole(salesforce_emulator, tmp_path, fmt, sent):
    tap_config: dict[str, Any] = {"rows": 20, "emit_activate_version_messages": True}
    if fmt:
        tap_config["batch_config"] = batch_config(tmp_path, fmt)
    output = tap_output(tmp_path, tap_config)
    sent_types = types_of(output)
    assert sent_types[:2] == ["SCHEMA", "ACTIVATE_VERSION"]
    assert set(sent_types) == {"SCHEMA", "ACTIVATE_VERSION", sent, "STATE"}
    tap_states = [json.loads(line)["value"] for line in output.splitlines() if '"STATE"' in line]

    run = run_target(config(salesforce_emulator, tmp_path), output, tmp_path)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["invoices"]
    assert (stats["received"], stats["created"], stats["failed"]) == (20, 20, 0)
    assert run.states == [tap_states[-1]]
    assert_landed(salesforce_emulator, invoice_rows(20))
    # ACTIVATE_VERSION is said once, as a warning; singer-sdk's own notices are not repeated.
    assert run.stderr.count(ACTIVATE_VERSION_NOTE) == 1
    assert "not implemented by this target" not in run.stderr
    assert "| ERROR" not in run.stderr


def test_every_message_type_in_one_stream(salesforce_emulator, tmp_path):
    rows = invoice_rows(9)
    files = [
        write_jsonl_gz(tmp_path / "a.json.gz", rows[3:5]),
        write_jsonl_gz(tmp_path / "b.json.gz", rows[5:7]),
    ]
    version = {"type": "ACTIVATE_VERSION", "stream": "invoices", "version": 1}
    messages = [
        SCHEMA,
        version,
        *[record("invoices", r) for r in rows[:3]],
        state({"n": 1}),
        batch(files),
        state({"n": 2}),
        SCHEMA,  # the same SCHEMA again changes nothing
        *[record("invoices", r) for r in rows[7:]],
        {**version, "version": 2},
        # ACTIVATE_VERSION for a stream with no SCHEMA yet is not an error either.
        {"type": "ACTIVATE_VERSION", "stream": "elsewhere", "version": 1},
        state({"n": 3}),
    ]
    text = jsonl_bytes(messages).decode()
    run = run_target(config(salesforce_emulator, tmp_path), text, tmp_path)
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["invoices"]
    assert (stats["received"], stats["created"], stats["failed"]) == (9, 9, 0)
    assert run.states == [{"n": 3}]
    assert_landed(salesforce_emulator, rows)
    assert run.stderr.count(ACTIVATE_VERSION_NOTE) == 2  # once for each stream
    assert "| ERROR" not in run.stderr

    # A later version with fewer records deletes nothing: the target ignores ACTIVATE_VERSION.
    later = [SCHEMA, {**version, "version": 3}, record("invoices", rows[0]), state({"n": 4})]
    again = run_target(config(salesforce_emulator, tmp_path), jsonl_bytes(later).decode(), tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.states == [{"n": 4}]
    assert len(salesforce_emulator.records("Invoice__c")) == 9
