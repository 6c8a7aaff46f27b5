"""How a run ends: every exit path accounts for every record, signals, dry runs, odd orgs.

Each test checks the balance ``received == created + updated + deleted + failed + not_sent +
outcome_unknown`` (plus the would-be counts of a dry run), and that the dead-letter file lists
every record that was not written.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from importlib.resources import files
from typing import Any

import pytest
from helpers import (
    CONTACT_PROPS,
    CONTACT_STREAM,
    TARGET,
    base_config,
    contacts,
    record,
    run_target,
    schema,
    state,
)

OUTCOMES = (
    "created",
    "updated",
    "deleted",
    "failed",
    "not_sent",
    "outcome_unknown",
    "would_create",
    "would_update",
    "would_delete",
)


def assert_balanced(report: dict[str, Any], dead_letters: list[dict[str, Any]] | None = None):
    """received equals the sum of outcomes in every stream; dead letters list the rest."""
    unwritten = 0
    for name, stats in report["streams"].items():
        total = sum(stats[k] for k in OUTCOMES)
        assert stats["received"] == total, (name, stats)
        unwritten += stats["failed"] + stats["not_sent"] + stats["outcome_unknown"]
    if dead_letters is not None:
        assert len(dead_letters) == unwritten


def _popen(config: dict[str, Any], tmp_path) -> subprocess.Popen[bytes]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen(
        [str(TARGET), "--config", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _dead(tmp_path) -> list[dict[str, Any]]:
    path = tmp_path / "dead.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().split("\n") if line]


# -- dry run ------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_dry_run_emits_no_state(api, salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        dry_run=True,
        streams={"contacts": {**CONTACT_STREAM, "api": api}},
    )
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(5),
        state({"bookmark": 5}),
        *contacts(3, start=5),
        state({"bookmark": 8}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ""  # Meltano would save any STATE and skip these rows later
    assert "dry run: no STATE is emitted" in run.stderr
    assert salesforce_emulator.records("Contact") == []
    assert run.report["streams"]["contacts"]["would_create"] == 8
    assert_balanced(run.report, run.dead_letters)


# -- rejections are always visible ----------------------------------------------------------


def test_rejections_are_logged_without_a_dead_letter_file(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        on_record_error="continue",
        streams={"contacts": CONTACT_STREAM},
    )
    del config["dead_letter_path"]
    bad = [
        record("contacts", {"contact_ref": f"C-{i}", "last_name": "X", "email": "not an email"})
        for i in range(25)
    ]
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *bad, *contacts(2, start=100)]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    logged = [line for line in run.stderr.splitlines() if "rejected: stream 'contacts'" in line]
    assert len(logged) == 20  # the first 20 in full
    assert "External_Id__c='C-0'" in logged[0]
    assert "INVALID_EMAIL_ADDRESS" in logged[0]
    assert "25 records rejected in all" in run.stderr
    assert "INVALID_EMAIL_ADDRESS x25" in run.stderr
    # The footer names no dead-letter file, since none was written.
    assert "dead letters:" not in run.stderr
    assert "succeeded with 25 rejected" in run.stderr
    assert_balanced(run.report)


# -- Salesforce unreachable mid-run -----------------------------------------------------------


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_counts_balance_when_salesforce_goes_away_mid_run(
    api, salesforce_emulator_factory, tmp_path
):
    # From the 4th data call on, every call is answered 503 (retries exhausted).
    path = "/composite/sobjects" if api == "rest" else "/jobs/ingest"
    faults = [{"match": {"path_contains": path}, "on_calls": list(range(4, 400)), "status": 503}]
    emulator = salesforce_emulator_factory(faults=faults)
    stream = {**CONTACT_STREAM, "api": api, "batch_size": 100 if api == "rest" else 300}
    config = base_config(
        emulator.base_url, tmp_path, on_record_error="continue", streams={"contacts": stream}
    )
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1500)]
    run = run_target(config, messages, tmp_path, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    stats = run.report["streams"]["contacts"]
    # The run stops reading at the failure; what it read is accounted for, the rest is the
    # tap's to send again (no STATE was emitted).
    received = stats["received"]
    assert 0 < received <= 1500
    assert stats["not_sent"] > 0
    assert_balanced(run.report, run.dead_letters)
    written = {r["External_Id__c"] for r in emulator.records("Contact")}
    by_code: dict[str, set[str]] = {}
    for d in run.dead_letters:
        by_code.setdefault(d["errorCode"], set()).add(d["record"]["contact_ref"])
    unknown = by_code.pop("OUTCOME_UNKNOWN", set())
    assert len(unknown) == stats["outcome_unknown"]
    refused = set().union(*by_code.values())
    # Records confirmed created are in the org; records reported not written are not; only
    # records of unknown outcome (a Bulk job closed, then unreachable) may be either.
    assert written - unknown == {f"C-{i}" for i in range(received)} - unknown - refused
    assert written.isdisjoint(refused)
    assert stats["created"] == len(written - unknown)
    assert {d["source"] for d in run.dead_letters if d["errorCode"] == "NOT_SENT"} == {"target"}
    assert run.states == []


# -- signals ------------------------------------------------------------------------------------

BULK_STREAM = {**CONTACT_STREAM, "api": "bulk", "batch_size": 200}


def _wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _closed_jobs(emulator) -> int:
    return sum(
        1
        for r in emulator.requests
        if r["method"] == "PATCH" and "/jobs/ingest/" in r["path"] and r["status"] == 200
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_first_signal_after_input_ended_waits_and_says_interrupted(
    signum, salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(record_ms=5)
    process = _popen(
        base_config(emulator.base_url, tmp_path, streams={"contacts": BULK_STREAM}), tmp_path
    )
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(400), state({"n": 1})]
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
    process.stdin.close()  # input ended: the run is waiting for its Bulk jobs
    process.stdin = None
    _wait_for(lambda: _closed_jobs(emulator) >= 2, "both jobs to be closed")
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr.decode()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
    # Every job was waited for, so every row is confirmed and STATE covers them.
    assert len(emulator.records("Contact")) == 400
    assert [json.loads(line) for line in stdout.decode().splitlines()] == [{"n": 1}]
    assert_balanced(report, _dead(tmp_path))


def test_second_signal_aborts_only_open_jobs_and_stops_promptly(
    salesforce_emulator_factory, tmp_path
):
    # 2 jobs of 1,000 rows at 20 ms a row (committed 200 at a time): 20 s each to finish.
    emulator = salesforce_emulator_factory(record_ms=20)
    process = _popen(
        base_config(
            emulator.base_url, tmp_path, streams={"contacts": {**BULK_STREAM, "batch_size": 1000}}
        ),
        tmp_path,
    )
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(2000),
        state({"n": 1}),
    ]
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
    process.stdin.close()
    process.stdin = None
    _wait_for(lambda: _closed_jobs(emulator) >= 2, "both jobs to be closed")
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    text = stderr.decode()
    assert process.returncode == 1, text
    assert stdout.decode().strip() == ""  # not everything was confirmed: no STATE
    assert "Traceback" not in text
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
    jobs = report["streams"]["contacts"]["bulk_jobs"]
    assert jobs and {j["state"] for j in jobs} == {"Aborted"}
    # Each job got one accepted close and one accepted abort: no refused (409) aborts.
    aborts = [
        r for r in emulator.requests if r["method"] == "PATCH" and "/jobs/ingest/" in r["path"]
    ]
    assert [r["status"] for r in aborts] == [200] * 4
    assert "could not abort" not in text  # no refused (409) abort was attempted
    # The run did not wait for the jobs to finish: they were stopped part way.
    assert len(emulator.records("Contact")) < 2000
    assert_balanced(report, _dead(tmp_path))


# -- references in both directions ---------------------------------------------------------------

CYCLE_METADATA = {
    "objects": {
        "Team__c": {
            "label": "Team",
            "fields": {
                "Code__c": {"type": "string", "length": 20, "externalId": True, "unique": True},
                "Captain__c": {"type": "reference", "referenceTo": ["Player__c"]},
            },
        },
        "Player__c": {
            "label": "Player",
            "fields": {
                "Code__c": {"type": "string", "length": 20, "externalId": True, "unique": True},
                "Team__c": {"type": "reference", "referenceTo": ["Team__c"]},
            },
        },
    }
}


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_streams_that_reference_each_other_do_not_crash(api, salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(metadata=CYCLE_METADATA)
    common = {"external_id_field": "Code__c", "field_mapping": {"code": "Code__c"}, "api": api}
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={
            "teams": {**common, "sobject": "Team__c", "batch_size": 2},
            "players": {**common, "sobject": "Player__c", "batch_size": 2},
        },
    )
    id_prop = {"type": ["string", "null"]}
    messages = [
        schema("teams", {"code": {"type": "string"}, "captain__c": id_prop}, ["code"]),
        schema("players", {"code": {"type": "string"}, "team__c": id_prop}, ["code"]),
    ]
    for i in range(5):
        messages.append(record("teams", {"code": f"T{i}", "captain__c": None}))
        messages.append(record("players", {"code": f"P{i}", "team__c": None}))
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "RecursionError" not in run.stderr
    assert len(emulator.records("Team__c")) == 5
    assert len(emulator.records("Player__c")) == 5
    assert_balanced(run.report, run.dead_letters)


# -- person account record types -----------------------------------------------------------------


def _person_metadata(record_types: list[dict[str, Any]]) -> dict[str, Any]:
    """The built-in Account, with the record types a recorded org's describe listed."""
    builtin = json.loads(
        files("target_salesforce_out.emulator").joinpath("builtin_metadata.json").read_text()
    )
    account = {**builtin["objects"]["Account"], "recordTypes": record_types}
    return {"objects": {"Account": account}}


PEOPLE_PROPS = {"ref": {"type": "string"}, "last_name": {"type": "string"}}
PEOPLE_STREAM = {
    "sobject": "Account",
    "person_account": True,
    "external_id_field": "External_Id__c",
    "field_mapping": {"ref": "External_Id__c"},
}


def test_person_record_type_listed_twice_under_one_developer_name_loads(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(
        person_accounts=True,
        metadata=_person_metadata(
            [
                {"developerName": "PersonAccount", "name": "Person Account", "isPersonType": True},
                {"developerName": "PersonAccount", "name": "PersonAccount", "isPersonType": True},
                {"developerName": "Business", "name": "Business"},
            ]
        ),
    )
    config = base_config(emulator.base_url, tmp_path, streams={"people": PEOPLE_STREAM})
    messages = [
        schema("people", PEOPLE_PROPS, ["ref"]),
        record("people", {"ref": "P-1", "last_name": "Lovelace"}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    [stored] = emulator.records("Account")
    assert stored["IsPersonAccount"] is True
    assert_balanced(run.report, run.dead_letters)


def test_person_record_types_that_differ_are_listed_and_chosen_by_id(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(
        person_accounts=True,
        metadata=_person_metadata(
            [
                {"developerName": "Student", "name": "Student", "isPersonType": True},
                {"developerName": "Teacher", "name": "Teacher", "isPersonType": True},
            ]
        ),
    )
    messages = [
        schema("people", PEOPLE_PROPS, ["ref"]),
        record("people", {"ref": "P-1", "last_name": "Hopper"}),
    ]
    run = run_target(
        base_config(emulator.base_url, tmp_path, streams={"people": PEOPLE_STREAM}),
        messages,
        tmp_path,
    )
    assert run.returncode == 2, run.stderr
    types = [r for r in emulator.records("RecordType") if r["SobjectType"] == "Account"]
    for rt in types:  # each candidate is shown with Name, DeveloperName and Id
        assert rt["Id"] in run.stderr
        assert f"DeveloperName {rt['DeveloperName']}" in run.stderr
    teacher = next(rt for rt in types if rt["DeveloperName"] == "Teacher")
    for wanted in (teacher["Id"], teacher["Id"][:15], "Teacher"):
        stream = {**PEOPLE_STREAM, "record_type": wanted}
        run = run_target(
            base_config(emulator.base_url, tmp_path, streams={"people": stream}), messages, tmp_path
        )
        assert run.returncode == 0, run.stderr
        [stored] = emulator.records("Account")
        assert stored["RecordTypeId"] == teacher["Id"]


# -- checkpoints ----------------------------------------------------------------------------------


def test_state_is_checkpointed_while_input_keeps_coming(salesforce_emulator, tmp_path):
    """With state_interval_seconds 1, STATE for confirmed records comes before input ends."""
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        state_interval_seconds=1,
        streams={"contacts": CONTACT_STREAM},
    )
    process = _popen(config, tmp_path)
    assert process.stdin is not None and process.stdout is not None

    def send(messages: list[dict[str, Any]]) -> None:
        assert process.stdin is not None
        process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        process.stdin.flush()

    send([schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(10), state({"n": 10})])
    # Once the target has described Contact it is reading the stream (its clock has started).
    _wait_for(
        lambda: any(r["path"].endswith("/Contact/describe") for r in salesforce_emulator.requests),
        "the Contact describe",
    )
    time.sleep(1.5)  # the buffered records are now older than the interval
    send([*contacts(1, start=10)])  # the next record makes the target checkpoint
    first = process.stdout.readline()  # input is still open: only a checkpoint can write this
    assert json.loads(first) == {"n": 10}
    assert len(salesforce_emulator.records("Contact")) >= 10
    send([state({"n": 11})])
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert [json.loads(line) for line in stdout.decode().splitlines()] == [{"n": 11}]


# -- success file, run ids ------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_success_file_lists_every_written_record_and_lines_carry_the_run_id(
    api, salesforce_emulator, tmp_path
):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        on_record_error="continue",
        success_path=str(tmp_path / "success.jsonl"),
        streams={"contacts": {**CONTACT_STREAM, "api": api}},
    )
    bad = record("contacts", {"contact_ref": "BAD", "last_name": "X", "email": "nope"})
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(3), bad]
    runs = []
    for _ in range(2):  # the second run updates: both runs append to the same files
        run = run_target(config, messages, tmp_path)
        assert run.returncode == 0, run.stderr
        runs.append(run)
    lines = [json.loads(x) for x in (tmp_path / "success.jsonl").read_text().split("\n") if x]
    stored = {r["External_Id__c"]: r["Id"] for r in salesforce_emulator.records("Contact")}
    first, second = (r.report["run_id"] for r in runs)
    assert first != second
    # Bulk results come in any order; compare as sets of (run, outcome, key, id).
    got = {(x["run_id"], x["outcome"], x["key"]["External_Id__c"], x["id"]) for x in lines}
    assert len(got) == len(lines) == 6
    assert got == {
        *((first, "created", f"C-{i}", stored[f"C-{i}"]) for i in range(3)),
        *((second, "updated", f"C-{i}", stored[f"C-{i}"]) for i in range(3)),
    }
    assert all(x["stream"] == "contacts" and x["time"] for x in lines)
    # The dead-letter file was appended to by both runs; each line says which run wrote it.
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().split("\n") if x]
    assert [d["run_id"] for d in dead] == [second]  # run_target clears it before each run
    assert "dead letters:" in runs[1].stderr


# -- missing keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["rest", "bulk"])
@pytest.mark.parametrize("operation", ["upsert", "update", "delete"])
def test_a_missing_key_reads_the_same_absent_null_or_empty_and_costs_no_call(
    api, operation, salesforce_emulator, tmp_path
):
    stream = {**CONTACT_STREAM, "api": api, "operation": operation}
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        on_record_error="continue",
        streams={"contacts": stream},
    )
    base = {"last_name": "X", "email": "x@example.com"}
    nullable = {**CONTACT_PROPS, "contact_ref": {"type": ["string", "null"]}}
    messages = [
        schema("contacts", nullable, ["contact_ref"]),
        record("contacts", base),
        record("contacts", {**base, "contact_ref": None}),
        record("contacts", {**base, "contact_ref": ""}),
    ]
    before = len(salesforce_emulator.requests)
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [d["errorCode"] for d in run.dead_letters] == ["MISSING_KEY"] * 3
    texts = {d["message"].split(": ", 1)[1] for d in run.dead_letters}
    assert texts == {
        "no value for the key field External_Id__c (property 'contact_ref' is absent, null or empty)"
    }
    # Login and describe only: no record reached Salesforce.
    data_calls = [
        r
        for r in salesforce_emulator.requests[before:]
        if "/composite/" in r["path"] or "/jobs/" in r["path"] or "/query" in r["path"]
    ]
    assert data_calls == []
    assert_balanced(run.report, run.dead_letters)


# -- bad dates ------------------------------------------------------------------------------------

DATED_PROPS = {
    "number": {"type": "string"},
    "invoice_date": {"type": ["string", "null"], "format": "date"},
    "paid_at": {"type": ["string", "null"], "format": "date-time"},
}
DATED_STREAM = {
    "sobject": "Invoice__c",
    "external_id_field": "Invoice_Number__c",
    "field_mapping": {
        "number": "Invoice_Number__c",
        "invoice_date": "Invoice_Date__c",
        "paid_at": "Paid_At__c",
    },
}


@pytest.mark.parametrize(
    ("prop", "value", "expected"),
    [
        ("invoice_date", "31/01/2024", "not a date: '31/01/2024' (expected YYYY-MM-DD"),
        ("paid_at", "yesterday noon", "not a date-time: 'yesterday noon' (expected ISO 8601"),
    ],
    ids=["date", "date-time"],
)
def test_a_bad_date_says_which_format_was_expected(
    prop, value, expected, salesforce_emulator, tmp_path
):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        on_record_error="continue",
        streams={"invoices": DATED_STREAM},
    )
    messages = [
        schema("invoices", DATED_PROPS, ["number"]),
        record("invoices", {"number": "INV-1", prop: value}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    [dead] = run.dead_letters
    assert expected in dead["message"]
    assert f"property {prop!r}" in dead["message"]
    assert "stream 'invoices', record Invoice_Number__c='INV-1'" in dead["message"]
    assert dead["fields"] == [DATED_STREAM["field_mapping"][prop]]
