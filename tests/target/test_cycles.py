"""Streams that look each other up: an Account's primary Contact and a Contact's Account.

The org's Account has a custom lookup Primary_Contact__c (relationship Primary_Contact__r) to
Contact, declared in the emulator's metadata. Accounts cannot be written after Contacts nor
Contacts after Accounts with every lookup in place: the plan writes the Accounts without their
primary Contact, then the Contacts, then sets the Accounts' primary Contacts in a second pass.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import Run, base_config, record, run_target, schema

from target_salesforce_out.emulator.schema import builtin_metadata

ACCOUNT_PROPS = {
    "ref": {"type": "string"},
    "name": {"type": "string"},
    "primary": {"type": ["string", "null"]},
}
CONTACT_PROPS = {
    "ref": {"type": "string"},
    "last_name": {"type": "string"},
    "account": {"type": ["string", "null"]},
}
DEFERRED = "Primary_Contact__r.External_Id__c"


@pytest.fixture
def emulator(salesforce_emulator_factory: Any) -> Any:
    account = builtin_metadata()["objects"]["Account"]
    fields = {
        **account["fields"],
        "Primary_Contact__c": {"type": "reference", "referenceTo": ["Contact"]},
    }
    metadata = {"objects": {"Account": {**account, "fields": fields}}}
    return salesforce_emulator_factory(metadata=metadata)


def _config(emulator: Any, tmp_path: Any, api: str) -> dict[str, Any]:
    streams = {
        "accounts": {
            "sobject": "Account",
            "api": api,
            "external_id_field": "External_Id__c",
            "field_mapping": {"ref": "External_Id__c", "name": "Name", "primary": DEFERRED},
        },
        "contacts": {
            "sobject": "Contact",
            "api": api,
            "external_id_field": "External_Id__c",
            "field_mapping": {
                "ref": "External_Id__c",
                "last_name": "LastName",
                "account": "Account.External_Id__c",
            },
        },
    }
    return base_config(emulator.base_url, tmp_path, streams=streams, on_record_error="continue")


ACCOUNTS = {"A-1": "C-1", "A-2": "C-3"}
CONTACTS = {"C-1": "A-1", "C-2": "A-1", "C-3": "A-2"}


def _messages(accounts: dict[str, str | None], contacts: dict[str, str]) -> list[dict[str, Any]]:
    return [
        schema("accounts", ACCOUNT_PROPS, ["ref"]),
        schema("contacts", CONTACT_PROPS, ["ref"]),
        *(
            record("accounts", {"ref": a, "name": f"Acct {a}", "primary": c})
            for a, c in accounts.items()
        ),
        *(
            record("contacts", {"ref": c, "last_name": f"Last {c}", "account": a})
            for c, a in contacts.items()
        ),
    ]


def _run(emulator: Any, tmp_path: Any, api: str, accounts: Any = None) -> Run:
    messages = _messages(ACCOUNTS if accounts is None else accounts, CONTACTS)
    return run_target(_config(emulator, tmp_path, api), messages, tmp_path)


def _lookups(emulator: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each Account's primary Contact key and each Contact's Account key, as stored."""
    accounts = emulator.records("Account")
    contacts = emulator.records("Contact")
    account_keys = {a["Id"]: a["External_Id__c"] for a in accounts}
    contact_keys = {c["Id"]: c["External_Id__c"] for c in contacts}
    return (
        {a["External_Id__c"]: contact_keys.get(a["Primary_Contact__c"]) for a in accounts},
        {c["External_Id__c"]: account_keys.get(c["AccountId"]) for c in contacts},
    )


def _counts(run: Run, stream: str) -> tuple[int, int, int]:
    counts = run.report["streams"][stream]
    return counts["created"], counts["updated"], counts["failed"]


APIS = [pytest.param("rest", id="rest"), pytest.param("bulk", id="bulk")]


@pytest.mark.parametrize("api", APIS)
def test_both_passes_land_and_both_lookups_are_set(emulator: Any, tmp_path: Any, api: str) -> None:
    run = _run(emulator, tmp_path, api)
    assert run.returncode == 0, run.stderr
    assert _lookups(emulator) == (ACCOUNTS, CONTACTS)
    assert _counts(run, "accounts") == (2, 0, 0)
    assert _counts(run, "contacts") == (3, 0, 0)
    plan = [(s["stream"], s["pass"]) for s in run.report["plan"]]
    assert plan == [("accounts", "write"), ("contacts", "write"), ("accounts", "set_lookups")]
    first, _, second = run.report["plan"]
    assert (first["deferred"], first["deferred_rows"], first["written"]) == ([DEFERRED], 2, 2)
    assert (second["fields"], second["sent"], second["updated"], second["failed"]) == (
        [DEFERRED],
        2,
        2,
        0,
    )


@pytest.mark.parametrize("api", APIS)
def test_a_replay_updates_without_duplicates(emulator: Any, tmp_path: Any, api: str) -> None:
    first = _run(emulator, tmp_path, api)
    second = _run(emulator, tmp_path, api)
    assert first.returncode == second.returncode == 0, second.stderr
    assert _lookups(emulator) == (ACCOUNTS, CONTACTS)
    assert _counts(second, "accounts") == (0, 2, 0)
    assert _counts(second, "contacts") == (0, 3, 0)


@pytest.mark.parametrize("api", APIS)
def test_a_second_pass_that_fails_dead_letters_the_record_with_its_id(
    emulator: Any, tmp_path: Any, api: str
) -> None:
    run = _run(emulator, tmp_path, api, accounts={"A-1": "C-1", "A-2": "C-404"})
    assert run.returncode == 0, run.stderr
    (line,) = run.dead_letters
    stored = {a["External_Id__c"]: a for a in emulator.records("Account")}
    assert line["record"]["ref"] == "A-2"
    assert line["errorCode"] == "INVALID_FIELD"
    assert f"written in the first pass (Id {stored['A-2']['Id']})" in line["message"]
    assert "C-404" in line["message"]
    assert stored["A-2"]["Primary_Contact__c"] is None
    assert _counts(run, "accounts") == (1, 0, 1)
    counts = run.report["streams"]["accounts"]
    assert counts["received"] == counts["created"] + counts["failed"]
    assert run.report["plan"][2]["failed"] == 1


@pytest.mark.parametrize("api", APIS)
def test_a_null_lookup_clears_in_the_first_pass(emulator: Any, tmp_path: Any, api: str) -> None:
    assert _run(emulator, tmp_path, api).returncode == 0
    run = _run(emulator, tmp_path, api, accounts={"A-1": None, "A-2": "C-3"})
    assert run.returncode == 0, run.stderr
    assert _lookups(emulator)[0] == {"A-1": None, "A-2": "C-3"}
    assert run.report["plan"][2]["sent"] == 1


def test_the_plan_is_logged_before_the_first_write(emulator: Any, tmp_path: Any) -> None:
    run = _run(emulator, tmp_path, "rest")
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "plan " in line]
    expected = [
        f"plan 1: accounts -> Account (rest): write without {DEFERRED} (set in a second pass)",
        "plan 2: contacts -> Contact (rest): write",
        f"plan 3: accounts -> Account (rest): second pass sets {DEFERRED}",
    ]
    for text, line in zip(expected, lines, strict=False):
        assert text in line
    assert len(lines) >= len(expected)
