"""Polymorphic lookups (Task WhoId/WhatId) set by a parent's external id, over REST and Bulk."""

from __future__ import annotations

import pytest
from helpers import base_config, record, run_target, schema

TASK_PROPS = {
    "ref": {"type": "string"},
    "subject": {"type": ["string", "null"]},
    "who": {"type": ["string", "null"]},
    "what": {"type": ["string", "null"]},
}
BY_CONTACT = {
    "ref": "External_Id__c",
    "who": "Contact:Who.External_Id__c",
    "what": "Account:What.External_Id__c",
}
BY_LEAD = {**BY_CONTACT, "who": "Lead:Who.Email"}
APIS = [pytest.param("rest", id="rest"), pytest.param("bulk", id="bulk")]


def _seed(emulator):
    saved = [
        *emulator.org.save("insert", "Contact", [{"LastName": "C", "External_Id__c": "C-1"}]),
        *emulator.org.save(
            "insert", "Lead", [{"LastName": "L", "Company": "Co", "Email": "lead@example.com"}]
        ),
        *emulator.org.save("insert", "Account", [{"Name": "A", "External_Id__c": "A-1"}]),
    ]
    assert all(r.success for r in saved)
    return [str(r.id) for r in saved]


def _run(emulator, tmp_path, api, records, mapping=BY_CONTACT):
    stream = {
        "sobject": "Task",
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": mapping,
    }
    config = base_config(emulator.base_url, tmp_path, streams={"tasks": stream})
    messages = [schema("tasks", TASK_PROPS, ["ref"]), *(record("tasks", r) for r in records)]
    return run_target(config, messages, tmp_path)


def _tasks(emulator):
    return {t["External_Id__c"]: t for t in emulator.records("Task")}


@pytest.mark.parametrize("api", APIS)
def test_who_and_what_by_external_id(salesforce_emulator_factory, tmp_path, api):
    emulator = salesforce_emulator_factory()
    contact, lead, account = _seed(emulator)
    by_contact = [{"ref": "T-1", "subject": "Call", "who": "C-1", "what": "A-1"}]
    by_lead = [{"ref": "T-2", "subject": "Email", "who": "lead@example.com"}]
    for mapping, records in ((BY_CONTACT, by_contact), (BY_LEAD, by_lead)):
        run = _run(emulator, tmp_path, api, records, mapping)
        assert run.returncode == 0, run.stderr
        assert run.dead_letters == []
        # Bulk results rows are matched back to their records through the polymorphic column.
        jobs = run.report["streams"]["tasks"].get("bulk_jobs", [])
        assert bool(jobs) == (api == "bulk")
        assert all("missing_results" not in j and "unmatched_results" not in j for j in jobs)
        assert run.report["streams"]["tasks"]["created"] == 1
    tasks = _tasks(emulator)
    assert (tasks["T-1"]["WhoId"], tasks["T-1"]["WhatId"]) == (contact, account)
    assert (tasks["T-2"]["WhoId"], tasks["T-2"]["WhatId"]) == (lead, None)
    # A replay updates the tasks (upsert on the task's external id) instead of creating more.
    ids = {ref: t["Id"] for ref, t in tasks.items()}
    run = _run(emulator, tmp_path, api, [{**by_lead[0], "subject": "Again"}], BY_LEAD)
    assert run.returncode == 0, run.stderr
    tasks = _tasks(emulator)
    assert {ref: t["Id"] for ref, t in tasks.items()} == ids
    assert (tasks["T-2"]["Subject"], tasks["T-2"]["WhoId"]) == ("Again", lead)


@pytest.mark.parametrize("api", APIS)
def test_null_clears_the_lookup(salesforce_emulator_factory, tmp_path, api):
    emulator = salesforce_emulator_factory()
    contact, _, account = _seed(emulator)
    first = {"ref": "T-1", "who": "C-1", "what": "A-1"}
    assert _run(emulator, tmp_path, api, [first]).returncode == 0
    assert _tasks(emulator)["T-1"]["WhoId"] == contact
    run = _run(emulator, tmp_path, api, [{"ref": "T-1", "who": None}])
    assert run.returncode == 0, run.stderr
    task = _tasks(emulator)["T-1"]
    assert (task["WhoId"], task["WhatId"]) == (None, account)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param(
            "Who.External_Id__c",
            "WhoId is polymorphic (Contact, Lead); name the parent's type, "
            "e.g. Contact:Who.External_Id__c",
            id="no-type",
        ),
        pytest.param(
            "Account:Who.External_Id__c",
            "WhoId cannot look up 'Account'; it looks up Contact, Lead",
            id="type-not-in-referenceTo",
        ),
        pytest.param(
            "Nope__c:Who.External_Id__c",
            "WhoId cannot look up 'Nope__c'; it looks up Contact, Lead",
            id="unknown-type",
        ),
        pytest.param(
            "Contact:Who.LastName",
            "Contact.LastName is not an external id field",
            id="not-an-external-id",
        ),
        pytest.param(
            "User:Owner.Username",
            "OwnerId only looks up User; drop the type, e.g. Owner.Username",
            id="type-on-single-target-lookup",
        ),
    ],
)
def test_config_errors(salesforce_emulator, tmp_path, target, message):
    mapping = {"ref": "External_Id__c", "who": target}
    run = _run(salesforce_emulator, tmp_path, "rest", [{"ref": "T-1"}], mapping=mapping)
    assert run.returncode != 0
    assert message in run.stderr
    writes = [r for r in salesforce_emulator.requests if r["method"] in {"POST", "PATCH", "PUT"}]
    assert [r["path"] for r in writes] == ["/services/oauth2/token"]


def test_two_types_of_one_lookup_are_one_config_error(salesforce_emulator, tmp_path):
    mapping = {**BY_CONTACT, "subject": "Lead:Who.Email"}
    run = _run(salesforce_emulator, tmp_path, "rest", [{"ref": "T-1"}], mapping=mapping)
    assert run.returncode != 0
    assert "properties 'subject' and 'who' both map to WhoId" in run.stderr


@pytest.mark.parametrize("api", APIS)
def test_tasks_wait_for_the_contacts_they_reference(salesforce_emulator, tmp_path, api):
    # The task arrives before the contact it looks up, in the same run.
    contact_stream = {
        "sobject": "Contact",
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c"},
    }
    task_stream = {
        "sobject": "Task",
        "api": api,
        "external_id_field": "External_Id__c",
        "field_mapping": {"ref": "External_Id__c", "who": "Contact:Who.External_Id__c"},
    }
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"tasks": task_stream, "contacts": contact_stream},
    )
    contact_props = {"ref": {"type": "string"}, "last_name": {"type": "string"}}
    task_props = {"ref": {"type": "string"}, "who": {"type": ["string", "null"]}}
    messages = [
        schema("tasks", task_props, ["ref"]),
        schema("contacts", contact_props, ["ref"]),
        record("tasks", {"ref": "T-1", "who": "C-9"}),
        record("contacts", {"ref": "C-9", "last_name": "Nine"}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.dead_letters == []
    [contact] = salesforce_emulator.records("Contact")
    assert _tasks(salesforce_emulator)["T-1"]["WhoId"] == contact["Id"]
