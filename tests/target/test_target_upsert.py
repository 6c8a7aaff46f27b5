"""REST upsert by external id: create, re-run updates, rejections, exit codes, STATE."""

from __future__ import annotations

from helpers import (
    CONTACT_PROPS,
    CONTACT_STREAM,
    base_config,
    contacts,
    record,
    run_target,
    schema,
    state,
)


def _config(emulator, tmp_path, **overrides):
    return base_config(
        emulator.base_url, tmp_path, streams={"contacts": CONTACT_STREAM}, **overrides
    )


def test_upsert_creates_then_updates_without_duplicates(salesforce_emulator, tmp_path):
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(450), state({"n": 1})]
    first = run_target(_config(salesforce_emulator, tmp_path), messages, tmp_path)
    assert first.returncode == 0, first.stderr
    stats = first.report["streams"]["contacts"]
    assert (stats["received"], stats["created"], stats["updated"], stats["failed"]) == (
        450,
        450,
        0,
        0,
    )
    assert len(salesforce_emulator.records("Contact")) == 450
    # 450 records = 3 Collections calls of at most 200.
    writes = [
        r
        for r in salesforce_emulator.requests
        if "/composite/sobjects/Contact/External_Id__c" in r["path"]
    ]
    assert len(writes) == 3
    assert all(r["method"] == "PATCH" for r in writes)
    # Describe is fetched once per object per run.
    describes = [
        r for r in salesforce_emulator.requests if r["path"].endswith("/sobjects/Contact/describe")
    ]
    assert len(describes) == 1

    changed = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(450, email="new@example.com"),
    ]
    second = run_target(_config(salesforce_emulator, tmp_path), changed, tmp_path)
    assert second.returncode == 0, second.stderr
    stats = second.report["streams"]["contacts"]
    assert (stats["created"], stats["updated"]) == (0, 450)
    stored = salesforce_emulator.records("Contact")
    assert len(stored) == 450
    assert {r["Email"] for r in stored} == {"new@example.com"}
    by_ref = {r["External_Id__c"]: r for r in stored}
    assert by_ref["C-7"]["FirstName"] == "First7"
    assert by_ref["C-7"]["LastName"] == "Last7"


def test_salesforce_rejection_is_dead_lettered_and_the_rest_land(salesforce_emulator, tmp_path):
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(3),
        # A null LastName on a new Contact: Salesforce answers REQUIRED_FIELD_MISSING.
        record("contacts", {"contact_ref": "C-bad", "last_name": None}),
        *contacts(3, start=10),
        state({"bookmark": 2}),
    ]
    run = run_target(
        _config(salesforce_emulator, tmp_path, on_record_error="continue"), messages, tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert len(salesforce_emulator.records("Contact")) == 6
    assert len(run.dead_letters) == 1
    dead = run.dead_letters[0]
    assert dead["stream"] == "contacts"
    assert dead["record"] == {"contact_ref": "C-bad", "last_name": None}
    assert dead["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert dead["message"] == "Required fields are missing: [LastName]"
    assert dead["fields"] == ["LastName"]
    assert dead["source"] == "salesforce"
    stats = run.report["streams"]["contacts"]
    assert (stats["received"], stats["created"], stats["failed"]) == (7, 6, 1)
    # continue: the rejected record is accounted for, so STATE advances.
    assert run.states == [{"bookmark": 2}]


def test_on_record_error_fail_finishes_batch_then_exits_nonzero_without_state(
    salesforce_emulator, tmp_path
):
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(2),
        record("contacts", {"contact_ref": "C-bad", "last_name": None}),
        *contacts(2, start=10),
        state({"bookmark": 3}),
    ]
    run = run_target(_config(salesforce_emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 1
    # The batch was finished: the good records landed, the bad one is dead-lettered.
    assert len(salesforce_emulator.records("Contact")) == 4
    assert [d["errorCode"] for d in run.dead_letters] == ["REQUIRED_FIELD_MISSING"]
    assert run.states == []
    assert run.report["status"] == "failed"
    assert "on_record_error is fail" in run.stderr


def test_state_only_covers_confirmed_records(salesforce_emulator_factory, tmp_path):
    # Every Collections call answers 503 until retries give up: nothing is confirmed.
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": {"path_contains": "/composite/sobjects"},
                "on_calls": list(range(1, 50)),
                "status": 503,
            }
        ]
    )
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(5),
        state({"bookmark": 9}),
    ]
    run = run_target(_config(emulator, tmp_path), messages, tmp_path, timeout=180)
    assert run.returncode == 1
    assert run.states == []
    assert emulator.records("Contact") == []
    assert "SERVER_UNAVAILABLE" in run.stderr


def test_state_is_emitted_after_records_are_written(salesforce_emulator, tmp_path):
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(2),
        state({"bookmark": 1}),
        *contacts(2, start=5),
        state({"bookmark": 2}),
    ]
    run = run_target(_config(salesforce_emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.states[-1] == {"bookmark": 2}
    assert len(salesforce_emulator.records("Contact")) == 4


def test_transient_errors_are_retried(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": {"method": "PATCH", "path_contains": "/composite/sobjects"},
                "on_calls": [1, 2],
                "status": 503,
            },
            {
                "match": {"path_contains": "/composite/sobjects"},
                "on_calls": [3],
                "drop_connection": True,
            },
        ]
    )
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(5)]
    run = run_target(_config(emulator, tmp_path), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(emulator.records("Contact")) == 5


def test_token_refresh_in_the_middle_of_a_run(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(token_ttl_calls=2)
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1000)]
    run = run_target(_config(emulator, tmp_path, max_concurrency=1), messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(emulator.records("Contact")) == 1000
    tokens = [r for r in emulator.requests if r["path"] == "/services/oauth2/token"]
    assert len(tokens) >= 3
    assert any(r["status"] == 401 for r in emulator.requests)
