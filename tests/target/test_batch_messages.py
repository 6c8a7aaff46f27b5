"""singer-sdk BATCH messages: records read from the listed files load like RECORD messages.

Each test writes batch files the way singer-sdk taps do (JSON Lines, gzipped or not, Parquet),
pipes a BATCH message naming them into the target's console script, and checks the org, the
report, the dead-letter file and STATE against what the same records as RECORD messages give.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import record, run_target, state
from invoice_batches import (
    SCHEMA,
    assert_landed,
    batch,
    config,
    jsonl_bytes,
    lines,
    stream_config,
    write_jsonl,
    write_jsonl_gz,
    write_parquet,
)
from sdk_tap import invoice_rows

# The target's drain messages are logged at DEBUG.
DEBUG = {**os.environ, "TARGET_SALESFORCE_OUT_LOGLEVEL": "DEBUG"}


WRITERS = {
    "jsonl": (write_jsonl, "jsonl", "none", ".jsonl"),
    "jsonl-no-compression-key": (write_jsonl, "jsonl", None, ".jsonl"),
    "jsonl-gzip": (write_jsonl_gz, "jsonl", "gzip", ".json.gz"),
    # singer-sdk's JSON Lines batcher gzips even when batch_config says compression: none.
    "jsonl-gzip-declared-none": (write_jsonl_gz, "jsonl", "none", ".json.gz"),
    "parquet": (lambda p, r: write_parquet(p, r, "none"), "parquet", "none", ".parquet"),
    "parquet-gzip": (write_parquet, "parquet", "gzip", ".parquet.gz"),
}


@pytest.mark.parametrize(
    ("kind", "api", "where"),
    [
        pytest.param("jsonl", "rest", "file-url", id="jsonl-rest"),
        pytest.param("jsonl-no-compression-key", "rest", "path", id="jsonl-plain-path"),
        pytest.param("jsonl-gzip", "rest", "file-url", id="jsonl-gzip-rest"),
        pytest.param("jsonl-gzip", "bulk", "fsspec-local", id="jsonl-gzip-bulk-fsspec-url"),
        pytest.param("jsonl-gzip-declared-none", "rest", "file-url", id="jsonl-gzip-declared-none"),
        pytest.param("parquet", "rest", "file-url", id="parquet-rest"),
        pytest.param("parquet-gzip", "bulk", "path", id="parquet-gzip-bulk-plain-path"),
    ],
)
def test_batch_files_load_like_records(salesforce_emulator, tmp_path, kind, api, where):
    write, fmt, compression, suffix = WRITERS[kind]
    rows = invoice_rows(25)
    files = [
        write(tmp_path / f"part-{i}{suffix}", chunk)
        for i, chunk in enumerate([rows[:10], rows[10:20], rows[20:]])
    ]
    messages = [
        SCHEMA,
        batch(files[:2], fmt, compression, where),
        state({"n": 1}),
        batch(files[2:], fmt, compression, where),
        state({"n": 2}),
    ]
    run = run_target(
        config(salesforce_emulator, tmp_path, stream_config(api=api)), messages, tmp_path
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["invoices"]
    assert (stats["received"], stats["created"], stats["failed"]) == (25, 25, 0)
    assert run.states[-1] == {"n": 2}
    assert_landed(salesforce_emulator, rows)

    # The same files again update the same records (upsert by external id): no second copy.
    again = run_target(
        config(salesforce_emulator, tmp_path, stream_config(api=api)), messages, tmp_path
    )
    assert again.returncode == 0, again.stderr
    stats = again.report["streams"]["invoices"]
    assert (stats["received"], stats["created"], stats["updated"]) == (25, 0, 25)
    assert len(salesforce_emulator.records("Invoice__c")) == 25


def _awkward_rows() -> list[dict[str, Any]]:
    good = invoice_rows(4)
    return [
        good[0],
        {**good[1], "amount": "not a number"},  # fails the stream's schema
        {**good[2], "status": "Bogus"},  # not a value of the restricted picklist
        {**good[3], "colour": "red"},  # a property the SCHEMA does not declare
        {"notes": "no key"},  # the key property is missing
    ]


def _outcome(run) -> tuple[Any, ...]:
    stats = run.report["streams"]["invoices"]
    # Whole dead-letter lines (record as the sink saw it, code, message) less time and run id.
    dead = sorted(
        json.dumps({k: v for k, v in d.items() if k not in ("time", "run_id")}, sort_keys=True)
        for d in run.dead_letters
    )
    return run.returncode, stats["received"], stats["created"], stats["failed"], dead


@pytest.mark.parametrize("on_record_error", ["continue", "fail"])
def test_batch_records_are_checked_and_rejected_like_record_messages(
    salesforce_emulator, tmp_path, on_record_error
):
    rows = _awkward_rows()
    cfg = config(salesforce_emulator, tmp_path, on_record_error=on_record_error)
    as_records = run_target(
        cfg, lines([SCHEMA, *[record("invoices", r) for r in rows], state({"n": 1})]), tmp_path
    )
    salesforce_emulator.reset()
    file = write_jsonl_gz(tmp_path / "awkward.json.gz", rows)
    as_batch = run_target(cfg, [SCHEMA, batch([file]), state({"n": 1})], tmp_path)

    assert _outcome(as_batch) == _outcome(as_records)
    code, received, created, failed, dead = _outcome(as_batch)
    assert (received, created, failed, len(dead)) == (5, 1, 4, 4)
    if on_record_error == "continue":
        assert code == 0
        assert as_batch.states == [{"n": 1}]
    else:
        assert code == 1
        assert as_batch.states == []
    assert [r["Invoice_Number__c"] for r in salesforce_emulator.records("Invoice__c")] == [
        "INV-0001"
    ]


def test_a_big_file_is_drained_whenever_the_sink_is_full(salesforce_emulator, tmp_path):
    """The sink holds at most batch_size x max_concurrency records, whatever the file's size."""
    rows = invoice_rows(35)
    file = write_jsonl_gz(tmp_path / "big.json.gz", rows)
    cfg = config(
        salesforce_emulator, tmp_path, stream_config(api="rest", batch_size=10), max_concurrency=1
    )
    run = run_target(cfg, [SCHEMA, batch([file]), state({"n": 1})], tmp_path, env=DEBUG)
    assert run.returncode == 0, run.stderr
    # singer-sdk logs each drain of a full sink (at DEBUG): after records 10, 20 and 30.
    assert run.stderr.count("Target sink for 'invoices' is full. Current size is '10'") == 3
    assert run.report["streams"]["invoices"]["created"] == 35
    assert_landed(salesforce_emulator, rows)


def test_a_file_is_read_record_by_record(salesforce_emulator, tmp_path):
    """A bad line 30 stops the run after 29 records were received (and the full sinks drained).

    Reading the whole file before processing it would have received none.
    """
    rows = invoice_rows(40)
    text = jsonl_bytes(rows[:29]) + b"{not json\n" + jsonl_bytes(rows[29:])
    file = tmp_path / "big.json.gz"
    file.write_bytes(gzip.compress(text))
    cfg = config(
        salesforce_emulator, tmp_path, stream_config(api="rest", batch_size=10), max_concurrency=1
    )
    messages = [SCHEMA, state({"n": 1}), batch([file]), state({"n": 2})]
    run = run_target(cfg, messages, tmp_path, env=DEBUG)
    assert run.returncode == 1
    assert "big.json.gz, line 30: not valid JSON" in run.stderr
    assert run.report["streams"]["invoices"]["received"] == 29
    assert run.stderr.count("Target sink for 'invoices' is full") == 2
    assert {"n": 2} not in run.states


def _missing(tmp_path: Path) -> tuple[Path, str, str | None]:
    return tmp_path / "gone.json.gz", "jsonl", "gzip"


def _not_gzip(tmp_path: Path) -> tuple[Path, str, str | None]:
    return write_jsonl(tmp_path / "plain.json.gz", invoice_rows(2)), "jsonl", "gzip"


def _truncated_gzip(tmp_path: Path) -> tuple[Path, str, str | None]:
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress(jsonl_bytes(invoice_rows(50)))[:200])
    return path, "jsonl", "gzip"


def _bad_json(tmp_path: Path) -> tuple[Path, str, str | None]:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl_bytes(invoice_rows(2)) + b'{"number": "INV-9",\n')
    return path, "jsonl", "none"


def _not_an_object(tmp_path: Path) -> tuple[Path, str, str | None]:
    path = tmp_path / "array.jsonl"
    path.write_bytes(jsonl_bytes(invoice_rows(1)) + b'["INV-9"]\n')
    return path, "jsonl", None


def _not_parquet(tmp_path: Path) -> tuple[Path, str, str | None]:
    return write_jsonl(tmp_path / "fake.parquet", invoice_rows(2)), "parquet", "none"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        pytest.param(_missing, "gone.json.gz cannot be read", id="missing"),
        pytest.param(_not_gzip, "plain.json.gz cannot be read", id="not-gzip"),
        pytest.param(_truncated_gzip, "cut.json.gz", id="truncated-gzip"),
        pytest.param(_bad_json, "bad.jsonl, line 3: not valid JSON", id="bad-json-line"),
        pytest.param(_not_an_object, "array.jsonl, line 2: not a JSON object", id="not-an-object"),
        pytest.param(_not_parquet, "fake.parquet cannot be read", id="not-parquet"),
    ],
)
def test_an_unreadable_batch_file_fails_the_run_naming_it(
    salesforce_emulator, tmp_path, make, says
):
    path, fmt, compression = make(tmp_path)
    good = write_jsonl_gz(tmp_path / "good.json.gz", invoice_rows(3))
    messages = [
        SCHEMA,
        batch([good]),
        state({"n": 1}),
        batch([path], fmt, compression),
        state({"n": 2}),
    ]
    run = run_target(config(salesforce_emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 1
    assert says in run.stderr
    assert any(says in e for e in run.report["errors"])
    assert {"n": 2} not in run.states
    assert run.report["status"] == "failed"


@pytest.mark.parametrize(
    ("message", "says"),
    [
        pytest.param(
            {"encoding": {"format": "avro"}, "manifest": []},
            "unsupported format 'avro'",
            id="format",
        ),
        pytest.param(
            {"encoding": {"format": "jsonl", "compression": "zstd"}, "manifest": []},
            "unsupported compression 'zstd'",
            id="compression",
        ),
        pytest.param({"encoding": {"format": "jsonl"}}, "needs an encoding", id="no-manifest"),
    ],
)
def test_a_batch_message_the_target_cannot_read_fails_the_run(
    salesforce_emulator, tmp_path, message, says
):
    messages = [SCHEMA, {"type": "BATCH", "stream": "invoices", **message}, state({"n": 1})]
    run = run_target(config(salesforce_emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 1
    assert says in run.stderr
    assert run.states == []


def test_a_batch_before_its_schema_fails_the_run(salesforce_emulator, tmp_path):
    file = write_jsonl_gz(tmp_path / "early.json.gz", invoice_rows(2))
    run = run_target(
        config(salesforce_emulator, tmp_path), [batch([file]), SCHEMA, state({"n": 1})], tmp_path
    )
    assert run.returncode == 3  # bad Singer input
    assert "before a corresponding schema" in run.stderr
    assert run.states == []
    assert salesforce_emulator.records("Invoice__c") == []


def test_stream_maps_apply_to_batch_records(salesforce_emulator, tmp_path):
    rows = invoice_rows(8)
    file = write_jsonl_gz(tmp_path / "mapped.json.gz", rows)
    cfg = config(
        salesforce_emulator,
        tmp_path,
        stream_maps={"invoices": {"__filter__": "status != 'Void'", "notes": "number + ' mapped'"}},
    )
    run = run_target(cfg, [SCHEMA, batch([file]), state({"n": 1})], tmp_path)
    assert run.returncode == 0, run.stderr
    kept = [r for r in rows if r["status"] != "Void"]
    assert run.report["streams"]["invoices"]["received"] == len(kept) == 6
    stored = {r["Invoice_Number__c"]: r for r in salesforce_emulator.records("Invoice__c")}
    assert sorted(stored) == [r["number"] for r in kept]
    assert all(r["Notes__c"] == f"{n} mapped" for n, r in stored.items())


def test_parquet_without_pyarrow_is_a_one_line_error(salesforce_emulator, tmp_path):
    file = write_parquet(tmp_path / "rows.parquet", invoice_rows(2))
    # A pyarrow package that cannot be imported, ahead of the installed one on the path.
    fake = tmp_path / "no_pyarrow" / "pyarrow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named pyarrow')\n")
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}
    run = run_target(
        config(salesforce_emulator, tmp_path),
        [SCHEMA, batch([file], "parquet", "none"), state({"n": 1})],
        tmp_path,
        env=env,
    )
    assert run.returncode == 1
    wanted = (
        f"BATCH file {file.as_uri()} is Parquet, which needs pyarrow: "
        "pip install 'target-salesforce-out[parquet]'"
    )
    assert next(line for line in run.stderr.splitlines() if "pyarrow" in line).endswith(wanted)
    assert run.report["errors"] == [wanted]
    assert run.states == []


def test_parquet_values_reach_the_sink_as_json_values(salesforce_emulator, tmp_path):
    """Parquet's typed columns (timestamp, date, decimal) load like the JSON a RECORD holds."""
    rows = invoice_rows(3)
    typed = [
        {
            **r,
            "invoice_date": datetime.fromisoformat(r["invoice_date"]).date(),
            "paid_at": datetime.fromisoformat(r["paid_at"]),
        }
        for r in rows
    ]
    file = write_parquet(tmp_path / "typed.parquet", typed)
    assert pq.read_schema(file).field("paid_at").type == pa.timestamp("us", tz="UTC")
    run = run_target(
        config(salesforce_emulator, tmp_path),
        [SCHEMA, batch([file], "parquet", "none"), state({"n": 1})],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["invoices"]["created"] == 3
    assert_landed(salesforce_emulator, rows)
