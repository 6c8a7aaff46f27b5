"""Duplicate rules in the emulator: the DUPLICATES_DETECTED payload, the allowSave header, Bulk.

The org's Contact has two rules (declared in its metadata file): "Block_Same_Email" (action
block, field Email) and "Alert_Same_Name" (action allow, fields FirstName and LastName), and
two seeded contacts: Tom Jones (tom@old.example) and Ann Smith (ann@example.com).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from emu_client import Client

from target_salesforce_out.emulator import Emulator
from target_salesforce_out.emulator.schema import SchemaError, builtin_metadata, load_schema

RULES = [
    {"name": "Block_Same_Email", "fields": ["Email"], "action": "block"},
    {"name": "Alert_Same_Name", "fields": ["FirstName", "LastName"], "action": "allow"},
]
SEEDS = [
    {"FirstName": "Tom", "LastName": "Jones", "Email": "tom@old.example"},
    {"FirstName": "Ann", "LastName": "Smith", "Email": "ann@example.com"},
]


def duplicate_metadata() -> dict[str, Any]:
    """The built-in org with duplicate rules and two seeded contacts on Contact."""
    builtin = builtin_metadata()
    contact = {**builtin["objects"]["Contact"], "duplicateRules": RULES, "rows": SEEDS}
    return {"objects": {**builtin["objects"], "Contact": contact}}


@pytest.fixture
def emulator(salesforce_emulator_factory: Any) -> Emulator:
    started: Emulator = salesforce_emulator_factory(metadata=duplicate_metadata())
    return started


@pytest.fixture
def client(emulator: Emulator) -> Any:
    c = Client(emulator)
    yield c
    c.close()


def _id_of(emulator: Emulator, email: str) -> str:
    return next(str(c["Id"]) for c in emulator.records("Contact") if c["Email"] == email)


def _payload(emulator: Emulator, rule: str, email: str, *, allow: bool) -> dict[str, Any]:
    """The duplicateResult expected for a match on the seeded contact with ``email``."""
    rid = _id_of(emulator, email)
    return {
        "allowSave": allow,
        "duplicateRule": rule,
        "duplicateRuleEntityType": "Contact",
        "errorMessage": "Use one of these records?",
        "matchResults": [
            {
                "entityType": "Contact",
                "errors": [],
                "matchEngine": "ExactMatchEngine",
                "matchRecords": [
                    {
                        "additionalInformation": [],
                        "fieldDiffs": [],
                        "matchConfidence": 100.0,
                        "record": {
                            "attributes": {
                                "type": "Contact",
                                "url": f"/services/data/v62.0/sobjects/Contact/{rid}",
                            },
                            "Id": rid,
                        },
                    }
                ],
                "rule": f"{rule}_Match_Rule",
                "size": 1,
                "success": True,
            }
        ],
    }


# record: the Contact sent; header: the Sforce-Duplicate-Rule-Header (None: none); rule: the
# refusing rule and whether it allows saving (None: the record is saved).
COLLECTIONS = [
    pytest.param(
        {"FirstName": "tom", "LastName": "JONES", "Email": "tj@new.example"},
        None,
        ("Alert_Same_Name", "tom@old.example", True),
        id="alert-rule-refuses-without-header-ignoring-case",
    ),
    pytest.param(
        {"FirstName": "Tom", "LastName": "Jones", "Email": "tj@new.example"},
        "allowSave=true",
        None,
        id="alert-rule-saves-with-allowSave",
    ),
    pytest.param(
        {"FirstName": "Tom", "LastName": "Jones", "Email": "tj@new.example"},
        "allowSave=false; includeRecordDetails=true",
        ("Alert_Same_Name", "tom@old.example", True),
        id="allowSave-false",
    ),
    pytest.param(
        {"FirstName": "Zed", "LastName": "Ray", "Email": "ANN@example.com"},
        "allowSave=true",
        ("Block_Same_Email", "ann@example.com", False),
        id="block-rule-refuses-despite-allowSave",
    ),
    pytest.param(
        {"FirstName": "Tom", "LastName": "Other", "Email": None},
        None,
        None,
        id="no-match-saves",
    ),
]


@pytest.mark.parametrize(("record", "header", "rule"), COLLECTIONS)
def test_collections_create_answers_duplicate_result(
    emulator: Emulator,
    client: Client,
    record: dict[str, Any],
    header: str | None,
    rule: tuple[str, str, bool] | None,
) -> None:
    headers = {"Sforce-Duplicate-Rule-Header": header} if header else {}
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, **record}]}
    response = client.post("/composite/sobjects", json=body, headers=headers)
    assert response.status_code == 200, response.text
    [result] = response.json()
    if rule is None:
        assert result["success"] is True
        assert len(emulator.records("Contact")) == 3
        return
    name, email, allow = rule
    assert result == {
        "success": False,
        "errors": [
            {
                "statusCode": "DUPLICATES_DETECTED",
                "message": "Use one of these records?",
                "fields": [],
                "duplicateResult": _payload(emulator, name, email, allow=allow),
            }
        ],
    }
    assert len(emulator.records("Contact")) == 2


def test_update_into_a_duplicate_is_refused_and_left_unchanged(
    emulator: Emulator, client: Client
) -> None:
    tom = _id_of(emulator, "tom@old.example")
    body = {"records": [{"attributes": {"type": "Contact"}, "id": tom, "Email": "ann@example.com"}]}
    [result] = client.patch("/composite/sobjects", json=body).json()
    assert result["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    assert _id_of(emulator, "tom@old.example") == tom


def test_single_record_create_answers_the_rest_error_array(
    emulator: Emulator, client: Client
) -> None:
    record = {"FirstName": "Tom", "LastName": "Jones"}
    response = client.post("/sobjects/Contact", json=record)
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "Use one of these records?",
            "errorCode": "DUPLICATES_DETECTED",
            "duplicateResult": _payload(emulator, "Alert_Same_Name", "tom@old.example", allow=True),
        }
    ]
    saved = client.post(
        "/sobjects/Contact", json=record, headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"}
    )
    assert saved.status_code == 201, saved.text


def test_records_of_one_save_are_not_compared_with_each_other(client: Client) -> None:
    same = {"attributes": {"type": "Contact"}, "LastName": "New", "Email": "new@example.com"}
    body = {"records": [same, same]}
    results = client.post("/composite/sobjects", json=body).json()
    assert [r["success"] for r in results] == [True, True]


def test_bulk_row_fails_with_duplicates_detected(emulator: Emulator, client: Client) -> None:
    job = client.post(
        "/jobs/ingest", json={"object": "Contact", "operation": "insert", "lineEnding": "LF"}
    ).json()
    csv = b"FirstName,LastName,Email\nTom,Jones,tj@new.example\nNew,Person,np@example.com\n"
    client.request(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=csv,
        headers={"Content-Type": "text/csv", "Sforce-Duplicate-Rule-Header": "allowSave=true"},
    )
    client.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    for _ in range(2000):
        info = client.get(f"/jobs/ingest/{job['id']}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            break
        time.sleep(0.01)
    assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 1)
    failed = client.get(f"/jobs/ingest/{job['id']}/failedResults").text.splitlines()
    # Bulk API 2.0 has no duplicate rule header: the alert rule refuses the row anyway.
    error = '"","DUPLICATES_DETECTED:Use one of these records?:--"'
    assert failed[1:] == [f'{error},"Tom","Jones","tj@new.example"']


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"name": "R", "fields": ["Nope"]}, id="unknown-field"),
        pytest.param({"name": "R", "fields": []}, id="no-fields"),
        pytest.param({"fields": ["Email"]}, id="no-name"),
        pytest.param({"name": "R", "fields": ["Email"], "action": "warn"}, id="bad-action"),
    ],
)
def test_bad_duplicate_rule_is_a_schema_error(rule: dict[str, Any]) -> None:
    metadata = duplicate_metadata()
    metadata["objects"]["Contact"]["duplicateRules"] = [rule]
    with pytest.raises(SchemaError, match="duplicate rule"):
        load_schema(metadata)
