"""REST loading, complete: operations by each key kind, matchers, references, ordering, limits."""

from __future__ import annotations

import json

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
    assert run.returncode == 2  # a configuration error
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


# -- keys compared as Salesforce stores them -------------------------------------------------

INVOICE_MATCH_PROPS = {
    "notes": {"type": "string"},
    "value": {},  # any JSON value: each case sends its own form
}


@pytest.mark.parametrize(
    ("field", "first", "again"),
    [
        pytest.param("Quantity__c", "5.0", 5, id="double-5-vs-stored-5.0"),
        pytest.param("Amount__c", 12.5, "12.50", id="currency-trailing-zero"),
        pytest.param("Invoice_Date__c", "2024-01-02", "2024-01-02", id="date-literal-unquoted"),
        pytest.param(
            "Paid_At__c",
            "2024-01-02T05:04:05.120+02:00",
            "2024-01-02T03:04:05.12Z",
            id="datetime-same-instant",
        ),
        pytest.param("Account__c", "parent18", "parent15", id="reference-15-vs-18"),
    ],
)
def test_matcher_replays_update_the_record_they_created(
    field, first, again, salesforce_emulator, tmp_path
):
    [parent] = salesforce_emulator.org.save("insert", "Account", [{"Name": "Parent"}])
    forms = {"parent15": parent.id[:15], "parent18": parent.id}
    stream = {
        "sobject": "Invoice__c",
        "match_fields": [field],
        "field_mapping": {"value": field, "notes": "Notes__c"},
    }
    config = _config(salesforce_emulator, tmp_path, {"invoices": stream})
    for value, notes in ((first, "first"), (again, "second")):
        run = run_target(
            config,
            [
                schema("invoices", INVOICE_MATCH_PROPS),
                record("invoices", {"value": forms.get(value, value), "notes": notes}),
            ],
            tmp_path,
        )
        assert run.returncode == 0, run.stderr[-2000:]
    stats = run.report["streams"]["invoices"]
    assert (stats["created"], stats["updated"]) == (0, 1)
    [stored] = salesforce_emulator.records("Invoice__c")
    assert stored["Notes__c"] == "second"


NUMERIC_KEY_METADATA = {
    "objects": {
        "Meter__c": {
            "label": "Meter",
            "labelPlural": "Meters",
            "fields": {
                "Meter_No__c": {
                    "type": "double",
                    "precision": 18,
                    "scale": 0,
                    "externalId": True,
                    "unique": True,
                },
                "Reading__c": {"type": "double", "precision": 18, "scale": 2},
            },
        }
    }
}


@pytest.mark.parametrize("api", ["rest", "bulk"])
@pytest.mark.parametrize("operation", ["update", "delete"])
def test_update_and_delete_by_a_number_external_id(
    api, operation, salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(metadata=NUMERIC_KEY_METADATA)
    seeded = [{"Name": f"M{i}", "Meter_No__c": i, "Reading__c": 1} for i in (5, 6, 7)]
    assert all(r.success for r in emulator.org.save("insert", "Meter__c", seeded))
    stream = {
        "sobject": "Meter__c",
        "api": api,
        "operation": operation,
        "external_id_field": "Meter_No__c",
        "field_mapping": {"meter": "Meter_No__c", "reading": "Reading__c"},
    }
    props = {"meter": {"type": "number"}, "reading": {"type": "number"}}
    # As a tap sends them: an integer, a decimal with a trailing zero, an unknown meter.
    text = "\n".join(
        [
            '{"type": "SCHEMA", "stream": "meters", "schema": {"type": "object", "properties": '
            + json.dumps(props)
            + '}, "key_properties": []}',
            '{"type": "RECORD", "stream": "meters", "record": {"meter": 5, "reading": 2.5}}',
            '{"type": "RECORD", "stream": "meters", "record": {"meter": 6.0, "reading": 3}}',
            '{"type": "RECORD", "stream": "meters", "record": {"meter": 8, "reading": 4}}',
        ]
    )
    run = run_target(
        _config(emulator, tmp_path, {"meters": stream}, on_record_error="continue"),
        text + "\n",
        tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert [(d["record"]["meter"], d["errorCode"]) for d in run.dead_letters] == [(8, "NOT_FOUND")]
    stored = {r["Meter_No__c"]: r["Reading__c"] for r in emulator.records("Meter__c")}
    if operation == "update":
        assert run.report["streams"]["meters"]["updated"] == 2
        assert stored == {5.0: 2.5, 6.0: 3.0, 7.0: 1.0}
    else:
        assert run.report["streams"]["meters"]["deleted"] == 2
        assert stored == {7.0: 1.0}


def test_a_null_match_value_matches_records_whose_field_is_empty(salesforce_emulator, tmp_path):
    org = salesforce_emulator.org
    seeded = org.save(
        "insert",
        "Contact",
        [
            {"LastName": "Doe", "Email": None, "Title": "seeded"},
            {"LastName": "Doe", "Email": "doe@example.com", "Title": "seeded"},
        ],
    )
    without_email, with_email = (r.id for r in seeded)
    props = {
        "last_name": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "title": {"type": "string"},
    }
    stream = {"sobject": "Contact", "match_fields": ["LastName", "Email"]}
    config = _config(
        salesforce_emulator, tmp_path, {"contacts": stream}, on_record_error="continue"
    )
    rows = [
        # Null, absent and empty text all mean "Email is empty".
        record("contacts", {"last_name": "Doe", "email": None, "title": "null"}),
        record("contacts", {"last_name": "Roe", "title": "absent"}),
        record("contacts", {"last_name": "Poe", "email": "", "title": "empty"}),
        # Nothing to match on: rejected, never a create or an update of some empty record.
        record("contacts", {"last_name": None, "email": None, "title": "no key"}),
    ]
    for attempt in range(2):
        run = run_target(config, [schema("contacts", props), *rows], tmp_path)
        assert run.returncode == 0, run.stderr[-2000:]
        stats = run.report["streams"]["contacts"]
        assert (stats["created"], stats["updated"]) == ((2, 1) if attempt == 0 else (0, 3))
        [dead] = run.dead_letters
        assert (dead["errorCode"], dead["record"]["title"]) == ("MISSING_KEY", "no key")
        assert dead["fields"] == ["LastName", "Email"]
    stored = {r["Id"]: (r["LastName"], r["Email"], r["Title"]) for r in org.rows("Contact")}
    assert stored.pop(without_email) == ("Doe", None, "null")
    assert stored.pop(with_email) == ("Doe", "doe@example.com", "seeded")
    assert sorted(stored.values()) == [("Poe", None, "empty"), ("Roe", None, "absent")]


@pytest.mark.parametrize(
    ("stored", "expected_notes"),
    [
        # The update writes the milliseconds too (an org keeping seconds drops them again).
        pytest.param(["03:04:05.000"], {"03:04:05.123": "new"}, id="held-to-the-second"),
        pytest.param(
            ["03:04:05.000", "03:04:05.123"],
            {"03:04:05.000": "seeded", "03:04:05.123": "new"},
            id="exact-millisecond-first",
        ),
    ],
)
def test_a_datetime_match_finds_the_record_held_to_the_second(
    stored, expected_notes, salesforce_emulator, tmp_path
):
    # Salesforce keeps datetimes to the second: a replay with milliseconds must find the record.
    rows = [{"Paid_At__c": f"2024-01-02T{t}Z", "Notes__c": "seeded"} for t in stored]
    assert all(r.success for r in salesforce_emulator.org.save("insert", "Invoice__c", rows))
    stream = {
        "sobject": "Invoice__c",
        "match_fields": ["Paid_At__c"],
        "field_mapping": {"value": "Paid_At__c", "notes": "Notes__c"},
    }
    run = run_target(
        _config(salesforce_emulator, tmp_path, {"invoices": stream}),
        [
            schema("invoices", INVOICE_MATCH_PROPS),
            record("invoices", {"value": "2024-01-02T05:04:05.123+02:00", "notes": "new"}),
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    stats = run.report["streams"]["invoices"]
    assert (stats["created"], stats["updated"]) == (0, 1)
    notes = {
        r["Paid_At__c"][11:23]: r["Notes__c"] for r in salesforce_emulator.records("Invoice__c")
    }
    assert notes == expected_notes
