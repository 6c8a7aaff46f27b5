"""duplicate_rules (enforce, allow_save) over REST and Bulk, against the emulator over HTTP.

The org's Contact has two duplicate rules: "Block_Same_Email" (action block, field Email) and
"Alert_Same_Name" (action allow, fields FirstName and LastName), and two seeded contacts: Tom
Jones (tom@old.example) and Ann Smith (ann@example.com). Each run loads three contacts: C-1
matches Tom by name (the alert rule), C-2 matches Ann by email (the block rule, in another
case), C-3 matches nobody.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import base_config, record, run_target, schema

from target_salesforce_out.config_checks import config_problems
from target_salesforce_out.emulator.schema import builtin_metadata
from target_salesforce_out.settings import CONFIG_SCHEMA

RULES = [
    {"name": "Block_Same_Email", "fields": ["Email"], "action": "block"},
    {"name": "Alert_Same_Name", "fields": ["FirstName", "LastName"], "action": "allow"},
]
SEEDS = [
    {"FirstName": "Tom", "LastName": "Jones", "Email": "tom@old.example"},
    {"FirstName": "Ann", "LastName": "Smith", "Email": "ann@example.com"},
]
PROPS = {
    "ref": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "email": {"type": "string"},
}
MESSAGES = [
    schema("contacts", PROPS, ["ref"]),
    record(
        "contacts",
        {"ref": "C-1", "first_name": "Tom", "last_name": "Jones", "email": "tj@new.example"},
    ),
    record(
        "contacts",
        {"ref": "C-2", "first_name": "Zed", "last_name": "Ray", "email": "ANN@example.com"},
    ),
    record(
        "contacts",
        {"ref": "C-3", "first_name": "New", "last_name": "One", "email": "n@example.com"},
    ),
]
HEADER = "Sforce-Duplicate-Rule-Header"


@pytest.fixture
def emulator(salesforce_emulator_factory: Any) -> Any:
    contact = {**builtin_metadata()["objects"]["Contact"], "duplicateRules": RULES, "rows": SEEDS}
    return salesforce_emulator_factory(metadata={"objects": {"Contact": contact}})


def _load(emulator: Any, tmp_path: Any, api: str, setting: str | None) -> Any:
    stream: dict[str, Any] = {
        "sobject": "Contact",
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c"},
    }
    if setting is not None:
        stream["duplicate_rules"] = setting
    config = base_config(
        emulator.base_url, tmp_path, streams={"contacts": stream}, on_record_error="continue"
    )
    run = run_target(config, MESSAGES, tmp_path)
    assert run.returncode == 0, run.stderr
    return run


def _seed_id(emulator: Any, email: str) -> str:
    return next(str(c["Id"]) for c in emulator.records("Contact") if c["Email"] == email)


def _counts(run: Any) -> dict[str, int]:
    stats = run.report["streams"]["contacts"]
    assert stats["received"] == stats["created"] + stats["updated"] + stats["failed"]
    return {k: stats[k] for k in ("created", "failed", "retried")}


# setting: duplicate_rules (None: unset, the default); header: the header every save call
# carries (None: none); refused: {ref: rule} of the dead-lettered records.
REST_CASES = [
    pytest.param(
        None, None, {"C-1": "Alert_Same_Name", "C-2": "Block_Same_Email"}, id="default-enforce"
    ),
    pytest.param(
        "enforce", None, {"C-1": "Alert_Same_Name", "C-2": "Block_Same_Email"}, id="enforce"
    ),
    pytest.param("allow_save", "allowSave=true", {"C-2": "Block_Same_Email"}, id="allow_save"),
]


@pytest.mark.parametrize(("setting", "header", "refused"), REST_CASES)
def test_rest_dead_letters_name_the_duplicates(
    emulator: Any, tmp_path: Any, setting: str | None, header: str | None, refused: dict[str, str]
) -> None:
    seeds = {
        "Alert_Same_Name": _seed_id(emulator, "tom@old.example"),
        "Block_Same_Email": _seed_id(emulator, "ann@example.com"),
    }
    run = _load(emulator, tmp_path, "rest", setting)
    saves = [r for r in emulator.requests if "/composite/sobjects" in r["path"]]
    assert saves
    assert [r["headers"].get(HEADER) for r in saves] == [header] * len(saves)
    assert {d["record"]["ref"]: (d["errorCode"], d["duplicates"]) for d in run.dead_letters} == {
        ref: ("DUPLICATES_DETECTED", [{"id": seeds[rule], "rule": rule}])
        for ref, rule in refused.items()
    }
    assert _counts(run) == {"created": 3 - len(refused), "failed": len(refused), "retried": 0}
    loaded = {c["External_Id__c"] for c in emulator.records("Contact")} - {None}
    assert loaded == {"C-1", "C-2", "C-3"} - set(refused)


def test_bulk_enforce_dead_letters_the_sf_error_text(emulator: Any, tmp_path: Any) -> None:
    """Bulk failed results carry only sf__Error: no duplicates list, the job id instead."""
    run = _load(emulator, tmp_path, "bulk", "enforce")
    assert sorted(
        (d["record"]["ref"], d["errorCode"], d["message"], "duplicates" in d, bool(d["job_id"]))
        for d in run.dead_letters
    ) == [
        ("C-1", "DUPLICATES_DETECTED", "Use one of these records?", False, True),
        ("C-2", "DUPLICATES_DETECTED", "Use one of these records?", False, True),
    ]
    assert _counts(run) == {"created": 1, "failed": 2, "retried": 0}
    assert not [r for r in emulator.requests if "/composite/sobjects" in r["path"]]


def test_bulk_allow_save_sends_refused_rows_again_over_rest(emulator: Any, tmp_path: Any) -> None:
    """Both refused rows go again with allowSave: the alert one lands, the blocked one fails."""
    run = _load(emulator, tmp_path, "bulk", "allow_save")
    resends = [r for r in emulator.requests if "/composite/sobjects" in r["path"]]
    assert [(r["method"], r["headers"].get(HEADER)) for r in resends] == [
        ("PATCH", "allowSave=true")
    ]
    # Bulk has no such header: the job's own calls never carry it.
    assert all(HEADER not in r["headers"] for r in emulator.requests if "/jobs/" in r["path"])
    ann = _seed_id(emulator, "ann@example.com")
    assert [
        (d["record"]["ref"], d["errorCode"], d["duplicates"], d["source"]) for d in run.dead_letters
    ] == [
        (
            "C-2",
            "DUPLICATES_DETECTED",
            [{"id": ann, "rule": "Block_Same_Email"}],
            "salesforce",
        )
    ]
    assert _counts(run) == {"created": 2, "failed": 1, "retried": 2}
    loaded = {c["External_Id__c"] for c in emulator.records("Contact")} - {None}
    assert loaded == {"C-1", "C-3"}


# entry: a streams entry; problem: the text its config check must contain (None: none).
SETTING_CASES = [
    pytest.param({"duplicate_rules": "allow_save"}, None, id="allow_save"),
    pytest.param({"duplicate_rules": "enforce", "operation": "delete"}, None, id="enforce-delete"),
    pytest.param(
        {"duplicate_rules": "allow_save", "operation": "delete"},
        "streams.contacts: duplicate_rules allow_save applies to saves; operation delete",
        id="allow_save-delete",
    ),
    pytest.param({"duplicate_rules": "allowSave"}, "allowSave", id="unknown-value"),
]


@pytest.mark.parametrize(("entry", "problem"), SETTING_CASES)
def test_setting_is_checked(entry: dict[str, Any], problem: str | None) -> None:
    config: dict[str, Any] = {
        "domain": "test",
        "access_token": "t",
        "instance_url": "https://x.my.salesforce.com",
    }
    config["streams"] = {"contacts": {"api": "bulk", **entry}}
    problems = config_problems(config, CONFIG_SCHEMA)
    if problem is None:
        assert problems == []
    else:
        assert [p for p in problems if problem in p], problems
