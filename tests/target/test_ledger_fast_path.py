"""The ledger's fast path: an unchanged record recognised as received, before any record work.

The fast path compares a digest of the record as the tap sent it (without ``_sdc_*``
properties) with the one stored next to its key's confirmed payload, under the same SCHEMA,
describe of the mapped fields and settings. What it skipped is logged at the end of the run
(FAST below); every other record takes the record path, which compares converted payloads.
Every run's counters must balance.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import CONTACT_PROPS, CONTACT_STREAM, base_config, contacts, run_target, schema

from target_salesforce_out.emulator import Emulator

N = 20
FAST = "unchanged record(s) recognised as received"
OUTCOMES = ("created", "updated", "deleted", "failed", "not_sent", "outcome_unknown")
OUTCOMES += ("unchanged", "ignored_deleted", "already_deleted")
WRITES = ("/composite/sobjects", "/jobs/ingest")
BUILTIN = Path(__file__).parents[2] / "target_salesforce_out/emulator/builtin_metadata.json"


def fast_skipped(stderr: str) -> int:
    """How many records the run's fast path skipped (0 when it logged nothing)."""
    for line in stderr.splitlines():
        if FAST in line:
            return int(line.split(FAST)[0].split(":")[-1].split()[-1])
    return 0


def sync(
    emulator: Emulator,
    tmp_path: Path,
    messages: list[dict[str, Any]],
    *,
    stream: dict[str, Any] | None = None,
    props: dict[str, Any] | None = None,
    **config: Any,
) -> tuple[Any, dict[str, Any], int]:
    """One run with the ledger: (run, the stream's counters, its write requests)."""
    streams = {"contacts": {**CONTACT_STREAM, **(stream or {})}}
    full = base_config(
        emulator.base_url,
        tmp_path,
        streams=streams,
        ledger_path=str(tmp_path / "ledger.db"),
        on_record_error="continue",
        **config,
    )
    before = len(emulator.requests)
    head = schema("contacts", props or CONTACT_PROPS, ["contact_ref"])
    run = run_target(full, [head, *messages], tmp_path)
    assert run.report is not None, run.stderr
    stats = run.report["streams"]["contacts"]
    assert stats["received"] == sum(stats[name] for name in OUTCOMES), stats
    writes = [r for r in emulator.requests[before:] if any(p in r["path"] for p in WRITES)]
    return run, stats, len(writes)


def contact_metadata(**first_name: Any) -> dict[str, Any]:
    """The emulator's Contact with FirstName's describe changed."""
    objects = json.loads(BUILTIN.read_text())["objects"]
    contact = objects["Contact"]
    contact["fields"]["FirstName"] = {**contact["fields"]["FirstName"], **first_name}
    return {"objects": {"Contact": contact}}


@pytest.mark.parametrize("api", [pytest.param("rest", id="rest"), pytest.param("bulk", id="bulk")])
def test_a_second_run_skips_every_record_before_conversion(api, salesforce_emulator, tmp_path):
    run, stats, _ = sync(salesforce_emulator, tmp_path, contacts(N), stream={"api": api})
    assert (run.returncode, stats["created"], fast_skipped(run.stderr)) == (0, N, 0)
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        sizes = {length for (length,) in db.execute("SELECT length(digest) FROM digests")}
    assert sizes == {32}  # the payload's digest, then the record's as received

    run, stats, writes = sync(salesforce_emulator, tmp_path, contacts(N), stream={"api": api})
    assert run.returncode == 0, run.stderr
    assert (writes, stats["received"], stats["unchanged"], stats["sent"]) == (0, N, N, 0)
    assert fast_skipped(run.stderr) == N


def test_an_api_auto_stream_written_through_bulk_is_remembered(salesforce_emulator, tmp_path):
    # Past bulk_threshold the REST sink hands its converted records to its Bulk side, whose
    # confirmations must find what the ledger noted at conversion.
    stream = {"api": "auto", "bulk_threshold": 5}
    run, stats, _ = sync(salesforce_emulator, tmp_path, contacts(N), stream=stream)
    assert stats["created"] == N and stats["bulk_jobs"], run.stderr
    run, stats, writes = sync(salesforce_emulator, tmp_path, contacts(N), stream=stream)
    assert (writes, stats["unchanged"], fast_skipped(run.stderr)) == (0, N, N)


def test_a_changed_record_takes_the_record_path_and_is_sent(salesforce_emulator, tmp_path):
    sync(salesforce_emulator, tmp_path, contacts(N))
    changed = contacts(N)
    changed[3]["record"]["email"] = "new3@example.com"
    run, stats, _ = sync(salesforce_emulator, tmp_path, changed)
    assert (stats["updated"], stats["unchanged"], fast_skipped(run.stderr)) == (1, N - 1, N - 1)
    stored = {r["External_Id__c"]: r["Email"] for r in salesforce_emulator.records("Contact")}
    assert stored["C-3"] == "new3@example.com"
    # Its new raw digest was stored with the confirmation.
    run, stats, _ = sync(salesforce_emulator, tmp_path, changed)
    assert fast_skipped(run.stderr) == N


@pytest.mark.parametrize(
    ("length", "rejected"),
    [
        pytest.param(41, 0, id="longer-field-payload-unchanged"),
        pytest.param(6, N - 10, id="shorter-field-values-now-too-long"),
    ],
)
def test_a_changed_describe_turns_the_fast_path_off_for_one_run(
    length, rejected, salesforce_emulator, salesforce_emulator_factory, tmp_path
):
    sync(salesforce_emulator, tmp_path, contacts(N))
    changed = salesforce_emulator_factory(metadata=contact_metadata(length=length))
    run, stats, writes = sync(changed, tmp_path, contacts(N))
    # Every record was converted against the new describe: "First10".."First19" no longer
    # fit in 6 characters; the others convert to the payload Salesforce confirmed.
    assert fast_skipped(run.stderr) == 0
    assert (stats["failed"], stats["unchanged"], writes) == (rejected, N - rejected, 0)
    if not rejected:
        # The records skipped by their payload got their raw digests back.
        run, stats, _ = sync(changed, tmp_path, contacts(N))
        assert (fast_skipped(run.stderr), stats["unchanged"]) == (N, N)


def test_a_changed_schema_turns_the_fast_path_off_for_one_run(salesforce_emulator, tmp_path):
    sync(salesforce_emulator, tmp_path, contacts(N))
    wider = {**CONTACT_PROPS, "nickname": {"type": ["string", "null"]}}
    run, stats, writes = sync(
        salesforce_emulator,
        tmp_path,
        contacts(N),
        props=wider,
        stream={"unmapped_properties": "ignore"},
    )
    assert (fast_skipped(run.stderr), stats["unchanged"], writes) == (0, N, 0)
    run, stats, _ = sync(
        salesforce_emulator,
        tmp_path,
        contacts(N),
        props=wider,
        stream={"unmapped_properties": "ignore"},
    )
    assert (fast_skipped(run.stderr), stats["unchanged"]) == (N, N)


def test_records_differing_only_in_sdc_properties_are_unchanged(salesforce_emulator, tmp_path):
    first = contacts(N, _sdc_extracted_at="2024-01-01T00:00:00Z", _sdc_sequence=1)
    sync(salesforce_emulator, tmp_path, first)
    later = contacts(N, _sdc_extracted_at="2024-02-01T00:00:00Z", _sdc_sequence=2)
    run, stats, writes = sync(salesforce_emulator, tmp_path, later)
    assert (fast_skipped(run.stderr), stats["unchanged"], writes) == (N, N, 0)


def test_a_record_deleted_at_the_source_is_never_skipped(salesforce_emulator, tmp_path):
    stream = {"deleted_records": "delete"}
    sync(salesforce_emulator, tmp_path, contacts(N), stream=stream)
    messages = contacts(N)
    messages[4]["record"]["_sdc_deleted_at"] = "2024-02-01T00:00:00Z"
    run, stats, _ = sync(salesforce_emulator, tmp_path, messages, stream=stream)
    assert run.returncode == 0, run.stderr
    assert (stats["deleted"], stats["unchanged"], fast_skipped(run.stderr)) == (1, N - 1, N - 1)
    assert "C-4" not in {r["External_Id__c"] for r in salesforce_emulator.records("Contact")}


def test_stream_maps_turn_the_fast_path_off(salesforce_emulator, tmp_path):
    sync(salesforce_emulator, tmp_path, contacts(N))
    # The same records as received, but the map changes what is loaded: all are sent.
    maps = {"stream_maps": {"contacts": {"first_name": "first_name.upper()"}}}
    run, stats, _ = sync(salesforce_emulator, tmp_path, contacts(N), **maps)
    assert run.returncode == 0, run.stderr
    assert (fast_skipped(run.stderr), stats["updated"], stats["unchanged"]) == (0, N, 0)
    assert {r["FirstName"] for r in salesforce_emulator.records("Contact")} == {
        f"FIRST{i}" for i in range(N)
    }
    run, stats, _ = sync(salesforce_emulator, tmp_path, contacts(N), **maps)
    assert (fast_skipped(run.stderr), stats["unchanged"]) == (0, N)


@pytest.mark.parametrize(
    ("repeat", "updated"),
    [
        pytest.param({}, 1, id="same-record-again"),
        pytest.param({"email": "again@example.com"}, 1, id="changed-record-again"),
    ],
)
def test_a_key_repeated_in_one_run_is_sent_the_second_time(
    repeat, updated, salesforce_emulator, tmp_path
):
    sync(salesforce_emulator, tmp_path, contacts(N))
    messages = contacts(N)
    again = json.loads(json.dumps(messages[2]))
    again["record"].update(repeat)
    run, stats, _ = sync(salesforce_emulator, tmp_path, [*messages, again])
    # The first C-2 is skipped; the second may not trust the ledger (the key was seen).
    assert (stats["received"], stats["unchanged"], stats["updated"]) == (N + 1, N, updated)
    assert fast_skipped(run.stderr) == N
    stored = {r["External_Id__c"]: r["Email"] for r in salesforce_emulator.records("Contact")}
    assert stored["C-2"] == again["record"]["email"]


def test_mirror_counts_fast_skipped_records_as_present(salesforce_emulator, tmp_path):
    version = {"type": "ACTIVATE_VERSION", "stream": "contacts", "version": 1}
    stream = {"mirror": True}
    sync(salesforce_emulator, tmp_path, [*contacts(N), version], stream=stream)
    run, stats, _ = sync(
        salesforce_emulator, tmp_path, [*contacts(N - 1), {**version, "version": 2}], stream=stream
    )
    assert run.returncode == 0, run.stderr
    assert (fast_skipped(run.stderr), stats["mirror_deleted"]) == (N - 1, 1)
    assert len(salesforce_emulator.records("Contact")) == N - 1


def test_a_kept_record_is_dropped_when_the_tap_sends_its_key_unchanged(
    salesforce_emulator, salesforce_emulator_factory, tmp_path
):
    sync(salesforce_emulator, tmp_path, contacts(N))
    # A changed C-0 fails on a row lock in every attempt of the run: kept to offer again.
    locked = salesforce_emulator_factory(
        faults=[
            {
                "match": {"path_contains": "/composite/sobjects"},
                "record_error": "UNABLE_TO_LOCK_ROW",
                "every_nth_record": 1,
                "first_attempts": 100,
            }
        ]
    )
    changed = contacts(1)
    changed[0]["record"]["email"] = "new0@example.com"
    _, stats, _ = sync(locked, tmp_path, changed)
    assert stats["failed"] == 1
    # The tap sends C-0 as it was last confirmed: skipped, and the kept version superseded.
    run, stats, _ = sync(salesforce_emulator, tmp_path, contacts(N))
    assert (fast_skipped(run.stderr), stats["retried_from_ledger"], stats["sent"]) == (N, 0, 0)
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        assert db.execute("SELECT count(*) FROM kept").fetchone() == (0,)
