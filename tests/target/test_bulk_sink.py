"""Bulk API 2.0 sink against the emulator over HTTP: operations, CSV values, failures, STATE."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal

import requests
from helpers import (
    CONTACT_PROPS,
    INVOICE_FIELDS,
    INVOICE_PROPS,
    TARGET,
    base_config,
    contacts,
    record,
    run_target,
    schema,
    state,
)

CONTACT_BULK = {
    "sobject": "Contact",
    "api": "bulk",
    "external_id_field": "External_Id__c",
    "field_mapping": {"contact_ref": "External_Id__c"},
}

INVOICE_BULK = {
    "sobject": "Invoice__c",
    "api": "bulk",
    "external_id_field": "Invoice_Number__c",
    "field_mapping": INVOICE_FIELDS,
}


def _config(emulator, tmp_path, stream=None, **overrides):
    return base_config(
        emulator.base_url, tmp_path, streams={"contacts": stream or CONTACT_BULK}, **overrides
    )


def _bulk_calls(emulator):
    return [r for r in emulator.requests if "/jobs/ingest" in r["path"]]


def _jobs(run, stream="contacts"):
    return run.report["streams"][stream]["bulk_jobs"]


def test_upsert_creates_then_updates_with_a_handful_of_calls_per_job(salesforce_emulator, tmp_path):
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(2500),
        state({"n": 1}),
    ]
    config = _config(salesforce_emulator, tmp_path, {**CONTACT_BULK, "batch_size": 1000})
    first = run_target(config, messages, tmp_path)
    assert first.returncode == 0, first.stderr
    stats = first.report["streams"]["contacts"]
    assert (
        stats["received"],
        stats["sent"],
        stats["created"],
        stats["updated"],
        stats["failed"],
    ) == (
        2500,
        2500,
        2500,
        0,
        0,
    )
    assert len(salesforce_emulator.records("Contact")) == 2500
    jobs = _jobs(first)
    assert sorted(j["records"] for j in jobs) == [500, 1000, 1000]
    assert all(j["state"] == "JobComplete" and j["operation"] == "upsert" for j in jobs)
    assert all(j["processed"] == j["records"] and j["failed"] == 0 for j in jobs)
    # Per job: create, upload, close, a few polls, three result downloads; never per record.
    calls = _bulk_calls(salesforce_emulator)
    assert len([c for c in calls if c["method"] == "POST"]) == 3
    assert len([c for c in calls if c["method"] == "PUT"]) == 3
    assert len(calls) <= 3 * 12
    assert first.states == [{"n": 1}]

    changed = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(2500, email="new@example.com"),
    ]
    second = run_target(config, changed, tmp_path)
    assert second.returncode == 0, second.stderr
    stats = second.report["streams"]["contacts"]
    assert (stats["created"], stats["updated"]) == (0, 2500)
    stored = salesforce_emulator.records("Contact")
    assert len(stored) == 2500
    assert {r["Email"] for r in stored} == {"new@example.com"}


def _accounts(emulator, tmp_path, refs):
    config = base_config(
        emulator.base_url,
        tmp_path,
        streams={
            "accounts": {
                "sobject": "Account",
                "external_id_field": "External_Id__c",
                "field_mapping": {"ref": "External_Id__c", "name": "Name"},
            }
        },
    )
    messages = [
        schema("accounts", {"ref": {"type": "string"}, "name": {"type": "string"}}, ["ref"]),
        *[record("accounts", {"ref": ref, "name": f"Account {ref}"}) for ref in refs],
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr


def test_insert_update_delete_and_hard_delete(salesforce_emulator, tmp_path):
    props = {**CONTACT_PROPS}
    insert = {**CONTACT_BULK, "operation": "insert"}
    insert.pop("external_id_field")
    run = run_target(
        _config(salesforce_emulator, tmp_path, insert),
        [schema("contacts", props, ["contact_ref"]), *contacts(30)],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["created"] == 30
    assert _jobs(run)[0]["operation"] == "insert"
    assert len(salesforce_emulator.records("Contact")) == 30

    # update by external id: Ids are found with one SOQL query, then an update job.
    update = {**CONTACT_BULK, "operation": "update"}
    run = run_target(
        _config(salesforce_emulator, tmp_path, update),
        [schema("contacts", props, ["contact_ref"]), *contacts(30, email="changed@example.com")],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["updated"] == 30
    assert {r["Email"] for r in salesforce_emulator.records("Contact")} == {"changed@example.com"}

    # delete by Id: the file holds only the Id column.
    ids = sorted(r["Id"] for r in salesforce_emulator.records("Contact"))
    delete = {"sobject": "Contact", "api": "bulk", "operation": "delete", "external_id_field": "Id"}
    id_schema = schema("contacts", {"id": {"type": "string"}, "email": {"type": "string"}}, ["id"])
    run = run_target(
        _config(salesforce_emulator, tmp_path, delete),
        [id_schema, *[record("contacts", {"id": i, "email": "x@example.com"}) for i in ids[:10]]],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["contacts"]["deleted"] == 10
    assert _jobs(run)[0]["operation"] == "delete"
    assert len(salesforce_emulator.records("Contact")) == 20

    # hard delete by external id.
    hard = {**CONTACT_BULK, "operation": "hard_delete"}
    run = run_target(
        _config(salesforce_emulator, tmp_path, hard),
        [schema("contacts", props, ["contact_ref"]), *contacts(30)],
        tmp_path,
    )
    # Ten were deleted above: those are rejected locally as NOT_FOUND, the rest go.
    assert _jobs(run)[0]["operation"] == "hardDelete"
    assert run.report["streams"]["contacts"]["deleted"] == 20
    assert {d["errorCode"] for d in run.dead_letters} == {"NOT_FOUND"}
    assert len(run.dead_letters) == 10
    assert salesforce_emulator.records("Contact") == []
    uploads = [r for r in salesforce_emulator.requests if r["method"] == "PUT"]
    assert len(uploads) == 4


AWKWARD_NOTES = [
    'comma, "quoted" and ""double"" quotes',
    "line one\nline two\r\nline three\rafter a bare CR",
    "unicode: Zoë, naïve, 東京, emoji 🚀, RTL שלום",
    "  leading and trailing spaces  ",
    "x" * 32_000,
    "#N/A is fine inside text",
    "semi;colon|pipe\ttab`backquote^caret",
]


def _invoice(i, notes):
    return {
        "number": f"INV-{i}",
        "notes": notes,
        "status": "Sent",
        "tags": ["Urgent", "Export"],
        # JSON numbers; 424242.5 is replaced by the exponent form 1E+2 in the message text.
        "amount": 12345678901234.56 if i == 0 else 424242.5,
        "quantity": 3,
        "lines": 7,
        "tax": 7.25,
        "invoice_date": "2024-02-29",
        "paid_at": "2024-03-01T23:30:15.250+05:30",
        "is_paid": i % 2 == 0,
        "email": f"billing{i}@example.com",
    }


def test_round_trip_of_awkward_values_field_by_field(salesforce_emulator, tmp_path):
    config = base_config(salesforce_emulator.base_url, tmp_path, streams={"invoices": INVOICE_BULK})
    invoices = [_invoice(i, notes) for i, notes in enumerate(AWKWARD_NOTES)]
    messages = [
        schema("invoices", INVOICE_PROPS, ["number"]),
        *[record("invoices", inv) for inv in invoices],
    ]
    text = "".join(json.dumps(m) + "\n" for m in messages).replace("424242.5", "1E+2")
    run = run_target(config, text, tmp_path)
    assert run.returncode == 0, run.stderr
    stored = {r["Invoice_Number__c"]: r for r in salesforce_emulator.records("Invoice__c")}
    assert len(stored) == len(AWKWARD_NOTES)
    for i, notes in enumerate(AWKWARD_NOTES):
        got = stored[f"INV-{i}"]
        assert got["Notes__c"] == notes
        assert got["Status__c"] == "Sent"
        assert got["Tags__c"] == "Urgent;Export"
        assert Decimal(str(got["Amount__c"])) == (Decimal("12345678901234.56") if i == 0 else 100)
        assert got["Quantity__c"] == 3
        assert got["Line_Count__c"] == 7
        assert Decimal(str(got["Tax_Rate__c"])) == Decimal("7.25")
        assert got["Invoice_Date__c"] == "2024-02-29"
        # 23:30:15.250 at +05:30 is 18:00:15.250 UTC.
        paid = datetime.strptime(got["Paid_At__c"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert paid == datetime(2024, 3, 1, 18, 0, 15, 250_000, tzinfo=UTC)
        assert got["Is_Paid__c"] is (i % 2 == 0)
        assert got["Customer_Email__c"] == f"billing{i}@example.com"

    # Null clears a field (#N/A), an absent property leaves it alone (empty cell).
    second = [
        schema("invoices", INVOICE_PROPS, ["number"]),
        record("invoices", {"number": "INV-1", "notes": None, "amount": None, "paid_at": None}),
        record("invoices", {"number": "INV-2", "status": "Paid", "is_paid": True}),
    ]
    run = run_target(config, second, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["invoices"]["updated"] == 2
    stored = {r["Invoice_Number__c"]: r for r in salesforce_emulator.records("Invoice__c")}
    cleared, kept = stored["INV-1"], stored["INV-2"]
    assert cleared.get("Notes__c") is None
    assert cleared.get("Amount__c") is None
    assert cleared.get("Paid_At__c") is None
    assert cleared["Status__c"] == "Sent"
    assert cleared["Invoice_Date__c"] == "2024-02-29"
    assert kept["Status__c"] == "Paid"
    assert kept["Is_Paid__c"] is True
    assert kept["Notes__c"] == AWKWARD_NOTES[2]
    assert kept["Tags__c"] == "Urgent;Export"


def test_relationship_column_by_parent_external_id(salesforce_emulator, tmp_path):
    _accounts(salesforce_emulator, tmp_path, ["A-1", "A-2"])
    accounts = {r["External_Id__c"]: r["Id"] for r in salesforce_emulator.records("Account")}
    stream = {
        **CONTACT_BULK,
        "field_mapping": {"contact_ref": "External_Id__c", "account_ref": "Account.External_Id__c"},
    }
    props = {**CONTACT_PROPS, "account_ref": {"type": ["string", "null"]}}
    messages = [
        schema("contacts", props, ["contact_ref"]),
        *contacts(2, account_ref="A-1"),
        *contacts(1, start=2, account_ref="A-2"),
        *contacts(1, start=3, account_ref="A-9"),
    ]
    run = run_target(
        _config(salesforce_emulator, tmp_path, stream, on_record_error="continue"),
        messages,
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    by_ref = {r["External_Id__c"]: r for r in salesforce_emulator.records("Contact")}
    assert by_ref["C-0"]["AccountId"] == accounts["A-1"]
    assert by_ref["C-2"]["AccountId"] == accounts["A-2"]
    [dead] = run.dead_letters
    assert dead["record"]["contact_ref"] == "C-3"
    assert dead["errorCode"] == "INVALID_FIELD"
    assert "A-9" in dead["message"]

    # A null relationship path clears the lookup.
    run = run_target(
        _config(salesforce_emulator, tmp_path, stream),
        [
            schema("contacts", props, ["contact_ref"]),
            record("contacts", {"contact_ref": "C-0", "account_ref": None}),
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    by_ref = {r["External_Id__c"]: r for r in salesforce_emulator.records("Contact")}
    assert by_ref["C-0"].get("AccountId") is None
    assert by_ref["C-1"]["AccountId"] == accounts["A-1"]


def test_records_that_cannot_succeed_are_rejected_before_upload(salesforce_emulator, tmp_path):
    stream = {
        **CONTACT_BULK,
        "field_mapping": {"contact_ref": "External_Id__c", "account": "AccountId"},
    }
    props = {
        **CONTACT_PROPS,
        "account": {"type": ["string", "array", "null"]},
        "contact_ref": {"type": ["string", "null"]},
    }
    messages = [
        schema("contacts", props, ["contact_ref"]),
        *contacts(3),
        record("contacts", {"contact_ref": "C-na", "last_name": "#N/A"}),
        record("contacts", {"contact_ref": None, "last_name": "No key"}),
        record("contacts", {"last_name": "Absent key"}),
        record(
            "contacts",
            {
                "contact_ref": "C-ids",
                "last_name": "Two",
                "account": ["001000000000001AAA", "001000000000002AAA"],
            },
        ),
        record("contacts", {"contact_ref": "C-long", "last_name": "L" * 81}),
        state({"bookmark": 1}),
    ]
    run = run_target(
        _config(salesforce_emulator, tmp_path, stream, on_record_error="continue"),
        messages,
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    codes = {d["record"].get("contact_ref", "absent"): d for d in run.dead_letters}
    assert set(codes) == {"C-na", None, "absent", "C-ids", "C-long"}
    assert all(d["source"] == "target" and "job_id" not in d for d in run.dead_letters)
    assert codes["C-na"]["errorCode"] == "BULK_UNSENDABLE_VALUE"
    assert "#N/A" in codes["C-na"]["message"] and codes["C-na"]["fields"] == ["LastName"]
    # A null and an absent key read the same.
    assert codes[None]["errorCode"] == codes["absent"]["errorCode"] == "MISSING_KEY"
    assert codes[None]["message"].split(": ", 1)[1] == codes["absent"]["message"].split(": ", 1)[1]
    assert codes["C-ids"]["errorCode"] == "MALFORMED_ID"
    assert codes["C-long"]["errorCode"] == "STRING_TOO_LONG"
    stats = run.report["streams"]["contacts"]
    assert (
        stats["received"],
        stats["sent"],
        stats["created"],
        stats["failed"],
        stats["rejected_locally"],
    ) == (8, 3, 3, 5, 5)
    assert _jobs(run)[0]["records"] == 3
    assert run.states == [{"bookmark": 1}]


def test_failed_rows_are_dead_lettered_with_salesforce_message_and_job_id(
    salesforce_emulator, tmp_path
):
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(40),
        record("contacts", {"contact_ref": "C-bad", "last_name": None, "email": "bad@example.com"}),
        *contacts(40, start=100),
        state({"bookmark": 2}),
    ]
    run = run_target(
        _config(salesforce_emulator, tmp_path, on_record_error="continue"), messages, tmp_path
    )
    assert run.returncode == 0, run.stderr
    [dead] = run.dead_letters
    assert dead["record"] == {"contact_ref": "C-bad", "last_name": None, "email": "bad@example.com"}
    assert dead["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert dead["message"] == "Required fields are missing: [LastName]"
    assert dead["fields"] == ["LastName"]
    assert dead["source"] == "salesforce"
    [job] = _jobs(run)
    assert dead["job_id"] == job["id"]
    assert (job["records"], job["processed"], job["failed"]) == (81, 81, 1)
    assert run.report["streams"]["contacts"]["created"] == 80
    assert run.states == [{"bookmark": 2}]


def test_on_record_error_fail_waits_for_the_job_results_and_writes_no_state(
    salesforce_emulator, tmp_path
):
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(20),
        record("contacts", {"contact_ref": "C-bad", "last_name": None}),
        state({"bookmark": 3}),
    ]
    run = run_target(_config(salesforce_emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 1
    # The failure is only known from the job's failedResults: STATE waited for them.
    assert run.states == []
    assert len(salesforce_emulator.records("Contact")) == 20
    assert [d["errorCode"] for d in run.dead_letters] == ["REQUIRED_FIELD_MISSING"]
    assert "on_record_error is fail" in run.stderr


def test_failed_job_raises_with_its_error_message(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": {"path_contains": "/jobs/ingest"},
                "fail_job_after_rows": 4,
                "error_message": "InternalServerError : emulated failure",
            }
        ]
    )
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(10), state({"n": 1})]
    run = run_target(_config(emulator, tmp_path, on_record_error="continue"), messages, tmp_path)
    assert run.returncode == 1
    assert "InternalServerError : emulated failure" in run.stderr
    assert run.states == []
    [job] = _jobs(run)
    assert job["state"] == "Failed"
    assert job["error_message"] == "InternalServerError : emulated failure"
    assert (job["records"], job["processed"], job["unprocessed"]) == (10, 4, 6)
    # The four processed rows were committed and counted; the six others are dead-lettered.
    assert len(emulator.records("Contact")) == 4
    assert run.report["streams"]["contacts"]["created"] == 4
    assert len(run.dead_letters) == 6
    assert {d["errorCode"] for d in run.dead_letters} == {"BULK_UNPROCESSED"}
    assert all(d["job_id"] == job["id"] for d in run.dead_letters)
    assert all("emulated failure" in d["message"] for d in run.dead_letters)
    stored = {r["External_Id__c"] for r in emulator.records("Contact")}
    assert stored.isdisjoint(d["record"]["contact_ref"] for d in run.dead_letters)


def test_row_lock_failures_are_sent_again_over_rest(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": {"path_contains": "/jobs/ingest"},
                "record_error": "UNABLE_TO_LOCK_ROW",
                "every_nth_record": 5,
                "first_attempts": 1,
            }
        ]
    )
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(50)]
    run = run_target(_config(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(emulator.records("Contact")) == 50
    stats = run.report["streams"]["contacts"]
    assert (stats["created"], stats["retried"], stats["failed"]) == (50, 10, 0)
    assert (stats["lock_failed"], stats["lock_retried"], stats["lock_retry_failed"]) == (10, 10, 0)
    jobs = _jobs(run)
    # No second job: the locked rows went through sObject Collections (see lock_retry).
    assert [(j["attempt"], j["records"], j["failed"]) for j in jobs] == [(1, 50, 10)]
    assert run.dead_letters == []


def test_repeated_key_goes_in_a_later_job_so_the_last_write_wins(salesforce_emulator, tmp_path):
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(5, email="first@example.com"),
        *contacts(1, start=2, email="second@example.com"),
        *contacts(2, start=10),
    ]
    run = run_target(_config(salesforce_emulator, tmp_path, max_concurrency=4), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert [j["records"] for j in _jobs(run)] == [5, 3]
    by_ref = {r["External_Id__c"]: r for r in salesforce_emulator.records("Contact")}
    assert by_ref["C-2"]["Email"] == "second@example.com"
    assert by_ref["C-1"]["Email"] == "first@example.com"
    stats = run.report["streams"]["contacts"]
    assert (stats["created"], stats["updated"]) == (7, 1)


def test_dry_run_counts_without_uploading(salesforce_emulator, tmp_path):
    first = run_target(
        _config(salesforce_emulator, tmp_path),
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(5)],
        tmp_path,
    )
    assert first.returncode == 0, first.stderr
    before = len(_bulk_calls(salesforce_emulator))
    run = run_target(
        _config(salesforce_emulator, tmp_path, dry_run=True),
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(8, email="dry@example.com")],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["contacts"]
    assert (stats["would_create"], stats["would_update"], stats["created"]) == (3, 5, 0)
    assert len(_bulk_calls(salesforce_emulator)) == before
    assert {r["Email"] for r in salesforce_emulator.records("Contact")} != {"dry@example.com"}


def _start_and_wait_for_close(emulator, tmp_path):
    stream = {**CONTACT_BULK, "batch_size": 100}
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(_config(emulator, tmp_path, stream)))
    process = subprocess.Popen(
        [str(TARGET), "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(100),
        state({"n": 1}),
        *contacts(5, start=500),
    ]
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
    process.stdin.flush()  # stdin stays open: the run is still going when the signal comes
    deadline = time.monotonic() + 30
    while not any(r["method"] == "PATCH" for r in emulator.requests):
        assert time.monotonic() < deadline, "the job was never closed"
        time.sleep(0.05)
    return process


def test_sigterm_drains_waits_for_the_job_and_emits_state(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(record_ms=20)
    process = _start_and_wait_for_close(emulator, tmp_path)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr.decode()
    assert "interrupted by signal" in stderr.decode()
    # Everything received was written, so STATE covers it.
    assert [json.loads(line) for line in stdout.decode().splitlines()] == [{"n": 1}]
    assert len(emulator.records("Contact")) == 105
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
    assert [j["state"] for j in report["streams"]["contacts"]["bulk_jobs"]] == ["JobComplete"] * 2


def test_second_signal_aborts_the_open_job_and_writes_no_state(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(record_ms=40)
    process = _start_and_wait_for_close(emulator, tmp_path)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr.decode()
    assert stdout.decode().strip() == ""  # no STATE: not everything was confirmed
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted"
    aborted = [
        j["id"] for j in report["streams"]["contacts"]["bulk_jobs"] if j["state"] == "Aborted"
    ]
    assert aborted
    # The close and the abort of that job were both accepted (another, smaller job may have
    # finished in between, so its abort is refused: that is fine).
    for job_id in aborted:
        patches = [
            r["status"]
            for r in emulator.requests
            if r["method"] == "PATCH" and r["path"].endswith(job_id)
        ]
        assert patches == [200, 200]
    assert "stopping now" in stderr.decode()


def test_rest_and_bulk_dead_letter_a_record_identically(salesforce_emulator, tmp_path):
    """A record Salesforce rejects is written to the dead-letter file the same way by both APIs:
    exact numbers, the same datetime text, whichever path it took."""
    props = {
        "number": {"type": "string"},
        "amount": {"type": "number"},
        "paid_at": {"type": "string", "format": "date-time"},
        "account_ref": {"type": "string"},
    }
    rec = {
        "number": "INV-X",
        "amount": 12345678901234.56,
        "paid_at": "2026-01-02T03:04:05+02:00",
        "account_ref": "A-missing",
    }
    dead = {}
    for api in ("rest", "bulk"):
        stream = {
            "sobject": "Invoice__c",
            "api": api,
            "external_id_field": "Invoice_Number__c",
            "field_mapping": {
                "number": "Invoice_Number__c",
                "account_ref": "Account__r.External_Id__c",
            },
        }
        config = base_config(
            salesforce_emulator.base_url,
            tmp_path,
            on_record_error="continue",
            streams={"invoices": stream},
        )
        run = run_target(
            config, [schema("invoices", props, ["number"]), record("invoices", rec)], tmp_path
        )
        assert run.returncode == 0, run.stderr
        [entry] = run.dead_letters
        assert entry["errorCode"] == "INVALID_FIELD"
        dead[api] = entry["record"]
    assert dead["rest"] == dead["bulk"]
    assert dead["rest"]["amount"] == 12345678901234.56
    raw = (tmp_path / "dead.jsonl").read_text()
    assert '"amount":12345678901234.56' in raw


GAUGE_METADATA = {
    "objects": {
        "Gauge__c": {
            "label": "Gauge",
            "fields": {
                "Label__c": {"type": "string", "length": 80, "required": True, "label": "Label"},
                "Level__c": {"type": "double", "precision": 18, "scale": 2, "label": "Level"},
            },
        }
    }
}


def test_upsert_by_id_without_an_id_loads_alike_over_rest_and_bulk(
    salesforce_emulator_factory, tmp_path
):
    """Upsert by Id: a record with a null, empty or absent Id is a new record over both APIs;
    one with an Id updates it, or fails if no record has it. Same counts, store, dead letters,
    also when rows that differ only in a number share everything else."""
    props = {
        "sf_id": {"type": ["string", "null"]},
        "label": {"type": ["string", "null"]},
        "level": {"type": "number"},
    }
    outcomes = {}
    for api in ("rest", "bulk"):
        emulator = salesforce_emulator_factory(metadata=GAUGE_METADATA)
        saved = emulator.org.save(
            "insert", "Gauge__c", [{"Label__c": "old", "Level__c": n} for n in (1, 2)]
        )
        first, second = (str(r.id) for r in saved)
        # Every third record hits a row lock once and is sent again.
        emulator.set_faults(
            [
                {
                    "match": {},
                    "record_error": "UNABLE_TO_LOCK_ROW",
                    "every_nth_record": 3,
                    "first_attempts": 1,
                }
            ]
        )
        rows = [
            {"sf_id": first, "label": "one", "level": 1},
            {"sf_id": second[:15], "label": "two", "level": 2},
            {"sf_id": None, "label": "new", "level": 3},
            {"label": "new", "level": 4},
            {"sf_id": "", "label": "new", "level": 5},
            {"sf_id": first[:3] + "000000000099", "label": "gone", "level": 6},
            {"sf_id": None, "label": None, "level": 7},
            {"sf_id": None, "label": "new", "level": 8},
        ]
        stream = {
            "sobject": "Gauge__c",
            "api": api,
            "external_id_field": "Id",
            "field_mapping": {"sf_id": "Id", "label": "Label__c", "level": "Level__c"},
        }
        config = base_config(
            emulator.base_url, tmp_path, on_record_error="continue", streams={"gauges": stream}
        )
        run = run_target(
            config, [schema("gauges", props), *[record("gauges", r) for r in rows]], tmp_path
        )
        assert run.returncode == 0, run.stderr
        stats = run.report["streams"]["gauges"]
        outcomes[api] = {
            "counts": {k: stats[k] for k in ("received", "created", "updated", "failed")},
            "store": sorted((r["Label__c"], r["Level__c"]) for r in emulator.records("Gauge__c")),
            "dead": sorted(
                (d["record"]["level"], d["errorCode"], tuple(d["fields"])) for d in run.dead_letters
            ),
        }
    assert outcomes["bulk"] == outcomes["rest"]
    assert outcomes["rest"] == {
        "counts": {"received": 8, "created": 4, "updated": 2, "failed": 2},
        "store": [
            ("new", 3.0),
            ("new", 4.0),
            ("new", 5.0),
            ("new", 8.0),
            ("one", 1.0),
            ("two", 2.0),
        ],
        "dead": [
            (6, "INVALID_CROSS_REFERENCE_KEY", ()),
            (7, "REQUIRED_FIELD_MISSING", ("Label__c",)),
        ],
    }


def test_upsert_by_id_uploads_a_missing_id_as_an_empty_cell(salesforce_emulator_factory, tmp_path):
    """An empty cell is Bulk CSV's "no value"; #N/A would ask to set the key itself to null."""
    emulator = salesforce_emulator_factory(
        metadata=GAUGE_METADATA,
        # The job fails before its first row, so its unprocessed records show the upload.
        faults=[{"match": {"path_contains": "/jobs/ingest"}, "fail_job_after_rows": 0}],
    )
    stream = {
        "sobject": "Gauge__c",
        "api": "bulk",
        "external_id_field": "Id",
        "field_mapping": {"sf_id": "Id", "label": "Label__c"},
    }
    config = base_config(
        emulator.base_url, tmp_path, on_record_error="continue", streams={"gauges": stream}
    )
    props = {"sf_id": {"type": ["string", "null"]}, "label": {"type": "string"}}
    rows = [
        {"sf_id": None, "label": "null id"},
        {"label": "no id"},
        {"sf_id": "", "label": "blank"},
    ]
    run = run_target(
        config, [schema("gauges", props), *[record("gauges", r) for r in rows]], tmp_path
    )
    assert run.returncode == 1
    [job] = run.report["streams"]["gauges"]["bulk_jobs"]
    response = requests.get(
        f"{emulator.base_url}/services/data/v62.0/jobs/ingest/{job['id']}/unprocessedrecords/",
        headers={"Authorization": f"Bearer {emulator.access_token()}"},
        timeout=30,
    )
    header, *uploaded = csv.reader(io.StringIO(response.text))
    assert [(row[header.index("Id")], row[header.index("Label__c")]) for row in uploaded] == [
        ("", "null id"),
        ("", "no id"),
        ("", "blank"),
    ]
