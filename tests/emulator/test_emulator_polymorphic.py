"""Polymorphic lookups by external id: Task's describe, REST nested ``attributes.type`` and the
Bulk API 2.0 ``Type:Relationship.Field`` header."""

from __future__ import annotations

import time
from typing import Any

import pytest
from emu_client import Client


@pytest.fixture
def client(salesforce_emulator: Any) -> Client:
    c = Client(salesforce_emulator)
    c.create("Contact", LastName="C", External_Id__c="C-1")
    c.create("Lead", LastName="L", Company="Co", Email="lead@example.com")
    c.create("Account", Name="A", External_Id__c="A-1")
    return c


def _ids(client: Client) -> dict[str, str]:
    rows = client.get("/query", params={"q": "SELECT Id, External_Id__c FROM Contact"}).json()
    lead = client.get("/query", params={"q": "SELECT Id FROM Lead"}).json()
    account = client.get("/query", params={"q": "SELECT Id FROM Account"}).json()
    return {
        "Contact": rows["records"][0]["Id"],
        "Lead": lead["records"][0]["Id"],
        "Account": account["records"][0]["Id"],
    }


def _task(client: Client, task_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/sobjects/Task/{task_id}").json()
    return body


def test_task_describe(salesforce_emulator: Any) -> None:
    fields = {
        f["name"]: f
        for f in Client(salesforce_emulator).get("/sobjects/Task/describe").json()["fields"]
    }
    who, what, owner = fields["WhoId"], fields["WhatId"], fields["OwnerId"]
    assert (who["referenceTo"], who["relationshipName"]) == (["Contact", "Lead"], "Who")
    assert {"Account", "Opportunity", "Case"} <= set(what["referenceTo"])
    assert what["relationshipName"] == "What"
    assert who["polymorphicForeignKey"] and what["polymorphicForeignKey"]
    assert (owner["referenceTo"], owner["polymorphicForeignKey"]) == (["User"], False)
    assert fields["External_Id__c"]["externalId"]


@pytest.mark.parametrize(
    ("who", "parent"),
    [
        pytest.param(
            {"attributes": {"type": "Contact"}, "External_Id__c": "C-1"}, "Contact", id="contact"
        ),
        pytest.param(
            {"attributes": {"type": "Lead"}, "Email": "lead@example.com"}, "Lead", id="lead"
        ),
    ],
)
def test_rest_nested_reference_with_type(client: Client, who: dict[str, Any], parent: str) -> None:
    what = {"attributes": {"type": "Account"}, "External_Id__c": "A-1"}
    body = {
        "records": [{"attributes": {"type": "Task"}, "Subject": "Call", "Who": who, "What": what}]
    }
    [result] = client.post("/composite/sobjects", json=body).json()
    assert result["success"], result
    ids = _ids(client)
    task = _task(client, result["id"])
    assert (task["WhoId"], task["WhatId"]) == (ids[parent], ids["Account"])


@pytest.mark.parametrize(
    ("who", "text"),
    [
        pytest.param({"External_Id__c": "C-1"}, "needs attributes.type", id="no-type"),
        pytest.param(
            {"attributes": {"type": "Account"}, "External_Id__c": "A-1"},
            "needs exactly one external id field of Contact or Lead",
            id="type-not-in-referenceTo",
        ),
        pytest.param(
            {"attributes": {"type": "Contact"}, "LastName": "C"},
            "not an External ID or indexed field",
            id="not-an-external-id",
        ),
    ],
)
def test_rest_nested_reference_errors(client: Client, who: dict[str, Any], text: str) -> None:
    body = {"records": [{"attributes": {"type": "Task"}, "Subject": "Call", "Who": who}]}
    [result] = client.post("/composite/sobjects", json=body).json()
    assert not result["success"]
    assert result["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert text in result["errors"][0]["message"]


def _bulk(client: Client, data: str) -> dict[str, Any]:
    jobs = f"{client.data}/jobs/ingest"
    job = client.session.post(jobs, json={"object": "Task", "operation": "insert"}, timeout=10)
    job_id = job.json()["id"]
    put = client.session.put(
        f"{jobs}/{job_id}/batches",
        data=data.encode(),
        headers={"Content-Type": "text/csv"},
        timeout=10,
    )
    assert put.status_code == 201
    client.session.patch(f"{jobs}/{job_id}", json={"state": "UploadComplete"}, timeout=10)
    for _ in range(1000):
        info: dict[str, Any] = client.session.get(f"{jobs}/{job_id}", timeout=10).json()
        if info["state"] in ("JobComplete", "Failed"):
            return info
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_bulk_polymorphic_header(client: Client) -> None:
    data = (
        "External_Id__c,Subject,Contact:Who.External_Id__c,Account:What.External_Id__c\n"
        "T-1,Call,C-1,A-1\n"
    )
    info = _bulk(client, data)
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        1,
        0,
    )
    ids = _ids(client)
    [task] = client.get(
        "/query", params={"q": "SELECT WhoId, WhatId FROM Task WHERE External_Id__c = 'T-1'"}
    ).json()["records"]
    assert (task["WhoId"], task["WhatId"]) == (ids["Contact"], ids["Account"])


@pytest.mark.parametrize(
    ("column", "message"),
    [
        pytest.param(
            "Who.External_Id__c",
            "InvalidBatch : type is needed for polymorphic foreign key references: Who",
            id="polymorphic-without-type",
        ),
        pytest.param(
            "User:Owner.Username",
            "InvalidBatch : type is not needed for non polymorphic foreign key references: Owner",
            id="type-on-single-target",
        ),
        pytest.param(
            "Account:Who.External_Id__c",
            "InvalidBatch : Field name not found : Account:Who.External_Id__c",
            id="type-not-in-referenceTo",
        ),
    ],
)
def test_bulk_header_errors(client: Client, column: str, message: str) -> None:
    info = _bulk(client, f"Subject,{column}\nCall,x\n")
    assert (info["state"], info["errorMessage"]) == ("Failed", message)
