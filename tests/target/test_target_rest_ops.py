"""REST loading, complete: operations by each key kind, matchers, references, ordering, limits."""

from __future__ import annotations

import pytest
from helpers import base_config, record, run_target, schema

ACCOUNT_PROPS = {
    "ref": {"type": "string"},
    "name": {"type": ["string", "null"]},
    "industry": {"type": ["string", "null"]},
}
ACCOUNT_STREAM = {
    "sobject": "Account",
    "external_id_field": "External_Id__c",
    "field_mapping": {"ref": "External_Id__c"},
}


def accounts(n, start=0, **extra):
    return [
        record("accounts", {"ref": f"A-{i}", "name": f"Account {i}", **extra})
        for i in range(start, start + n)
    ]


def _config(emulator, tmp_path, streams, **overrides):
    return base_config(emulator.base_url, tmp_path, streams=streams, **overrides)


def _seed_accounts(emulator, tmp_path, n=5):
    run = run_target(
        _config(emulator, tmp_path, {"accounts": ACCOUNT_STREAM}),
        [schema("accounts", ACCOUNT_PROPS, ["ref"]), *accounts(n)],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    return {r["External_Id__c"]: r["Id"] for r in emulator.records("Account")}


def _writes(emulator):
    return [
        r
        for r in emulator.requests
        if r["method"] in {"POST", "PATCH", "DELETE"} and "oauth2" not in r["path"]
    ]


def test_insert(salesforce_emulator, tmp_path):
    streams = {
        "accounts": {
            "sobject": "Account",
            "operation": "insert",
            "field_mapping": {"ref": "External_Id__c"},
        }
    }
    run = run_target(
        _config(salesforce_emulator, tmp_path, streams),
        [schema("accounts", ACCOUNT_PROPS), *accounts(250)],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["accounts"]["created"] == 250
    assert len(salesforce_emulator.records("Account")) == 250
    assert [
        (w["method"], w["path"].split("/v")[1].split("/", 1)[1])
        for w in _writes(salesforce_emulator)
    ] == [("POST", "composite/sobjects")] * 2


@pytest.mark.parametrize("key", ["Id", "External_Id__c", "match"])
def test_update_by_each_key_kind(key, salesforce_emulator, tmp_path):
    ids = _seed_accounts(salesforce_emulator, tmp_path)
    props = {"ref": {"type": "string"}, "industry": {"type": "string"}, "sf_id": {"type": "string"}}
    stream = {
        "sobject": "Account",
        "operation": "update",
        "field_mapping": {"ref": "External_Id__c", "sf_id": "Id"},
    }
    if key == "External_Id__c":
        stream["external_id_field"] = "External_Id__c"
    elif key == "match":
        stream["match_fields"] = ["External_Id__c"]
        stream["field_mapping"] = {"ref": "External_Id__c"}
        props.pop("sf_id")
    rows = [
        record("accounts", {"ref": ref, "industry": "Energy", "sf_id": sid})
        for ref, sid in ids.items()
    ]
    rows.append(
        record(
            "accounts", {"ref": "A-missing", "industry": "Energy", "sf_id": "001000000000001AAA"}
        )
    )
    if key == "match":
        for row in rows:
            row["record"].pop("sf_id")
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"accounts": stream}, on_record_error="continue"),
        [schema("accounts", props), *rows],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert {r["Industry"] for r in salesforce_emulator.records("Account")} == {"Energy"}
    assert run.report["streams"]["accounts"]["updated"] == 5
    assert len(run.dead_letters) == 1
    assert run.dead_letters[0]["record"]["ref"] == "A-missing"


@pytest.mark.parametrize("key", ["Id", "External_Id__c", "match"])
def test_delete_by_each_key_kind(key, salesforce_emulator, tmp_path):
    ids = _seed_accounts(salesforce_emulator, tmp_path)
    stream = {
        "sobject": "Account",
        "operation": "delete",
        "field_mapping": {"ref": "External_Id__c", "sf_id": "Id"},
    }
    if key == "External_Id__c":
        stream["external_id_field"] = "External_Id__c"
    elif key == "match":
        stream["match_fields"] = ["External_Id__c"]
    props = {"ref": {"type": "string"}, "sf_id": {"type": "string"}}
    doomed = list(ids.items())[:3]
    rows = [record("accounts", {"ref": ref, "sf_id": sid}) for ref, sid in doomed]
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"accounts": stream}),
        [schema("accounts", props), *rows],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.report["streams"]["accounts"]["deleted"] == 3
    assert sorted(r["External_Id__c"] for r in salesforce_emulator.records("Account")) == [
        "A-3",
        "A-4",
    ]


def test_matcher_upsert_uses_at_most_three_calls_per_200(salesforce_emulator, tmp_path):
    _seed_accounts(salesforce_emulator, tmp_path, n=100)
    stream = {
        "sobject": "Account",
        "match_fields": ["Name"],
        "field_mapping": {"ref": "External_Id__c"},
    }
    rows = accounts(
        200, start=0, industry="Retail"
    )  # A-0..A-99 exist by Name, A-100..A-199 are new
    before = len(salesforce_emulator.requests)
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"accounts": stream}),
        [schema("accounts", ACCOUNT_PROPS), *rows],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["accounts"]
    assert (stats["created"], stats["updated"]) == (100, 100)
    assert len(salesforce_emulator.records("Account")) == 200
    data_calls = [
        r
        for r in salesforce_emulator.requests[before:]
        if r["counted"]
        and "/sobjects/Account/describe" not in r["path"]
        and r["path"].endswith("/sobjects") is False
    ]
    assert len(data_calls) <= 3, [r["path"] for r in data_calls]


def test_multiple_matches_reject_the_record_and_change_nothing(salesforce_emulator, tmp_path):
    streams = {"accounts": {"sobject": "Account", "operation": "insert"}}
    props = {"name": {"type": "string"}, "industry": {"type": "string"}}
    run_target(
        _config(salesforce_emulator, tmp_path, streams),
        [
            schema("accounts", props),
            record("accounts", {"name": "Twin", "industry": "A"}),
            record("accounts", {"name": "Twin", "industry": "B"}),
        ],
        tmp_path,
    )
    stream = {"sobject": "Account", "match_fields": ["Name"]}
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"accounts": stream}, on_record_error="continue"),
        [schema("accounts", props), record("accounts", {"name": "Twin", "industry": "C"})],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    [dead] = run.dead_letters
    assert dead["errorCode"] == "MULTIPLE_MATCHES"
    ids = sorted(r["Id"] for r in salesforce_emulator.records("Account"))
    assert all(i in dead["message"] for i in ids)
    assert sorted(r["Industry"] for r in salesforce_emulator.records("Account")) == ["A", "B"]


@pytest.mark.parametrize(
    "value",
    [
        "O'Brien",
        "back\\slash",
        "new\nline",
        'tab\tand "quotes"',
        "日本語 ünïcode",
        "100%_like",
        "x' OR Name != '",
    ],
)
def test_soql_escaping_in_matchers(value, salesforce_emulator, tmp_path):
    props = {"name": {"type": "string"}, "industry": {"type": "string"}}
    stream = {"sobject": "Account", "match_fields": ["Name"]}
    config = _config(salesforce_emulator, tmp_path, {"accounts": stream})
    assert (
        run_target(
            config,
            [schema("accounts", props), record("accounts", {"name": "Other", "industry": "X"})],
            tmp_path,
        ).returncode
        == 0
    )
    first = run_target(
        config,
        [schema("accounts", props), record("accounts", {"name": value, "industry": "A"})],
        tmp_path,
    )
    assert first.returncode == 0, first.stderr
    second = run_target(
        config,
        [schema("accounts", props), record("accounts", {"name": value, "industry": "B"})],
        tmp_path,
    )
    assert second.returncode == 0, second.stderr
    stored = {r["Name"]: r["Industry"] for r in salesforce_emulator.records("Account")}
    assert stored == {"Other": "X", value: "B"}


def test_reference_validation_errors(salesforce_emulator, tmp_path):
    props = {"ref": {"type": "string"}, "last_name": {"type": "string"}, "account_id": {}}
    stream = {
        "sobject": "Contact",
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c"},
    }
    rows = [
        record(
            "contacts",
            {
                "ref": "C-1",
                "last_name": "A",
                "account_id": ["001D000000IRFmaIAH", "001D000000IRFmbIAH"],
            },
        ),
        record("contacts", {"ref": "C-2", "last_name": "B", "account_id": "001D000000IRFmaXXX"}),
        record("contacts", {"ref": "C-3", "last_name": "C", "account_id": "not-an-id"}),
        record("contacts", {"ref": "C-4", "last_name": "D"}),
    ]
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"contacts": stream}, on_record_error="continue"),
        [schema("contacts", props), *rows],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert [d["errorCode"] for d in run.dead_letters] == ["MALFORMED_ID"] * 3
    assert "got an array" in run.dead_letters[0]["message"]
    assert all(
        "AccountId" in d["message"] and d["fields"] == ["AccountId"] for d in run.dead_letters
    )
    assert [r["External_Id__c"] for r in salesforce_emulator.records("Contact")] == ["C-4"]


def test_interleaved_accounts_and_contacts_by_external_id_and_by_id(salesforce_emulator, tmp_path):
    contact_props = {
        "ref": {"type": "string"},
        "last_name": {"type": "string"},
        "account_ref": {"type": "string"},
    }
    streams = {
        "accounts": ACCOUNT_STREAM,
        "contacts": {
            "sobject": "Contact",
            "external_id_field": "External_Id__c",
            "batch_size": 2,
            "field_mapping": {"ref": "External_Id__c", "account_ref": "Account.External_Id__c"},
        },
    }
    messages = [
        schema("accounts", ACCOUNT_PROPS, ["ref"]),
        schema("contacts", contact_props, ["ref"]),
    ]
    for i in range(6):
        messages.append(record("accounts", {"ref": f"A-{i}", "name": f"Account {i}"}))
        messages.append(
            record("contacts", {"ref": f"C-{i}", "last_name": f"L{i}", "account_ref": f"A-{i}"})
        )
    run = run_target(
        _config(salesforce_emulator, tmp_path, streams, max_concurrency=1), messages, tmp_path
    )
    assert run.returncode == 0, run.stderr + str(run.dead_letters)
    account_ids = {r["External_Id__c"]: r["Id"] for r in salesforce_emulator.records("Account")}
    for contact in salesforce_emulator.records("Contact"):
        assert contact["AccountId"] == account_ids["A-" + contact["External_Id__c"][2:]]
    # By id: a second stream maps account ids directly.
    by_id = {
        "sobject": "Contact",
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c"},
    }
    props = {
        "ref": {"type": "string"},
        "last_name": {"type": "string"},
        "account_id": {"type": "string"},
    }
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"contacts": by_id}),
        [
            schema("contacts", props),
            record("contacts", {"ref": "C-0", "last_name": "L0", "account_id": account_ids["A-5"]}),
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert (
        next(c for c in salesforce_emulator.records("Contact") if c["External_Id__c"] == "C-0")[
            "AccountId"
        ]
        == account_ids["A-5"]
    )


def test_last_write_wins_inside_a_batch(salesforce_emulator, tmp_path):
    rows = [
        record("accounts", {"ref": "A-1", "name": "first"}),
        record("accounts", {"ref": "A-2", "name": "other"}),
        record("accounts", {"ref": "A-1", "name": "second"}),
        record("accounts", {"ref": "A-1", "name": "third"}),
    ]
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"accounts": ACCOUNT_STREAM}),
        [schema("accounts", ACCOUNT_PROPS, ["ref"]), *rows],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert {r["External_Id__c"]: r["Name"] for r in salesforce_emulator.records("Account")} == {
        "A-1": "third",
        "A-2": "other",
    }


def test_only_locked_records_are_retried(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(
        faults=[
            {
                "match": {"path_contains": "/composite/sobjects"},
                "record_error": "UNABLE_TO_LOCK_ROW",
                "every_nth_record": 5,
                "first_attempts": 1,
            }
        ]
    )
    run = run_target(
        _config(emulator, tmp_path, {"accounts": ACCOUNT_STREAM}),
        [schema("accounts", ACCOUNT_PROPS, ["ref"]), *accounts(50)],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert len(emulator.records("Account")) == 50
    assert run.report["streams"]["accounts"]["retried"] == 10
    upserts = [r for r in emulator.requests if "/composite/sobjects/Account" in r["path"]]
    assert len(upserts) == 2  # the batch, then the 10 locked records alone


def test_api_budget_stop(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(api_limit=100)
    config = _config(
        emulator,
        tmp_path,
        {"accounts": {**ACCOUNT_STREAM, "batch_size": 10}},
        max_api_usage_percent=5,
        max_concurrency=1,
    )
    rows = [
        schema("accounts", ACCOUNT_PROPS, ["ref"]),
        *accounts(100),
        {"type": "STATE", "value": {"done": True}},
    ]
    run = run_target(config, rows, tmp_path)
    assert run.returncode == 1
    assert "max_api_usage_percent=5" in run.stderr
    assert "5 of 100 requests used" in run.stderr
    assert run.states == []
    assert emulator.api_usage == 5
    # One describe and four upserts of 10 fit in 5% of 100; the fifth upsert was never sent.
    assert len(emulator.records("Account")) == 40
    assert run.report["streams"]["accounts"]["created"] == 40


def test_person_account_rules(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(person_accounts=True)
    props = {
        "ref": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": ["string", "null"]},
        "person_email": {"type": "string"},
    }
    stream = {
        "sobject": "Account",
        "person_account": True,
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c"},
    }
    rows = [
        record(
            "people",
            {
                "ref": "P-1",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "person_email": "ada@example.com",
            },
        ),
        record("people", {"ref": "P-2", "first_name": "No", "last_name": None}),
    ]
    run = run_target(
        _config(emulator, tmp_path, {"people": stream}, on_record_error="continue"),
        [schema("people", props, ["ref"]), *rows],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    [stored] = emulator.records("Account")
    assert stored["LastName"] == "Lovelace"
    assert stored["IsPersonAccount"] is True
    assert run.dead_letters[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    # Name is rejected locally, before any write.
    bad = {**props, "name": {"type": "string"}}
    run = run_target(
        _config(emulator, tmp_path, {"people": stream}),
        [
            schema("people", bad, ["ref"]),
            record("people", {"ref": "P-3", "last_name": "X", "name": "X"}),
        ],
        tmp_path,
    )
    assert run.returncode == 1
    assert "person accounts cannot set Name" in run.stderr


@pytest.mark.parametrize(
    "stream",
    [
        ACCOUNT_STREAM,
        {
            "sobject": "Account",
            "match_fields": ["External_Id__c"],
            "field_mapping": {"ref": "External_Id__c"},
        },
    ],
    ids=["external_id", "match_fields"],
)
def test_dry_run_writes_nothing_and_reports_what_would_happen(
    stream, salesforce_emulator, tmp_path
):
    _seed_accounts(salesforce_emulator, tmp_path, n=3)
    before = len(salesforce_emulator.requests)
    config = _config(salesforce_emulator, tmp_path, {"accounts": stream}, dry_run=True)
    run = run_target(
        config, [schema("accounts", ACCOUNT_PROPS, ["ref"]), *accounts(5, industry="Dry")], tmp_path
    )
    assert run.returncode == 0, run.stderr
    stats = run.report["streams"]["accounts"]
    assert (stats["would_update"], stats["would_create"], stats["created"], stats["updated"]) == (
        3,
        2,
        0,
        0,
    )
    assert run.report["dry_run"] is True
    after = salesforce_emulator.requests[before:]
    assert not [
        r
        for r in after
        if r["method"] in {"PATCH", "DELETE"}
        or (r["method"] == "POST" and "oauth2" not in r["path"])
    ]
    assert {r.get("Industry") for r in salesforce_emulator.records("Account")} == {None}


def test_calls_overlap_up_to_max_concurrency_and_same_key_writes_stay_ordered(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(latency_ms=150)
    streams = {"accounts": {**ACCOUNT_STREAM, "batch_size": 50}}
    rows = accounts(400)
    # The same key written twice, far apart in the input: the later value must win.
    rows.insert(10, record("accounts", {"ref": "A-399", "name": "early"}))
    rows.append(record("accounts", {"ref": "A-5", "name": "late"}))
    run = run_target(
        _config(emulator, tmp_path, streams, max_concurrency=4),
        [schema("accounts", ACCOUNT_PROPS, ["ref"]), *rows],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    upserts = [r for r in emulator.requests if "/composite/sobjects/Account" in r["path"]]
    assert max(r["in_flight"] for r in upserts) == 4
    stored = {r["External_Id__c"]: r["Name"] for r in emulator.records("Account")}
    assert stored["A-399"] == "Account 399"
    assert stored["A-5"] == "late"
    assert len(stored) == 400
