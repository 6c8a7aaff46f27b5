"""Assignment rules in the emulator: the Sforce-Auto-Assign header and Bulk assignmentRuleId."""

from __future__ import annotations

import time
from typing import Any

import pytest
from emu_client import Client

from target_salesforce_out.emulator import Emulator


@pytest.fixture
def client(salesforce_emulator: Emulator) -> Any:
    c = Client(salesforce_emulator)
    yield c
    c.close()


def _user(emulator: Emulator, username: str) -> str:
    return next(str(u["Id"]) for u in emulator.records("User") if u["Username"] == username)


def _rule(emulator: Emulator, name: str) -> str:
    return next(str(r["Id"]) for r in emulator.records("AssignmentRule") if r["Name"] == name)


def test_rules_are_queryable(client: Client) -> None:
    soql = "SELECT Id, Name FROM AssignmentRule WHERE SobjectType = 'Lead' AND Active = true"
    rows = client.get("/query", params={"q": soql}).json()["records"]
    assert [(r["Id"][:3], r["Name"]) for r in rows] == [("01Q", "Standard Lead Routing")]


# header: the Sforce-Auto-Assign value sent (None: no header; "partner": the inactive Partner
# rule's Id); owner: the Username that owns the created Lead.
SINGLE_RECORD = [
    pytest.param(None, "leads@emulator.test", id="absent-is-true"),
    pytest.param("true", "leads@emulator.test", id="true-any-case"),
    pytest.param("False", "admin@emulator.test", id="false-any-case"),
    pytest.param("partner", "partners@emulator.test", id="rule-id"),
]


@pytest.mark.parametrize(("header", "owner"), SINGLE_RECORD)
def test_single_record_create_honours_the_header(
    salesforce_emulator: Emulator, client: Client, header: str | None, owner: str
) -> None:
    if header == "partner":
        header = _rule(salesforce_emulator, "Partner Lead Routing")
    headers = {"Sforce-Auto-Assign": header} if header is not None else {}
    response = client.post(
        "/sobjects/Lead", json={"LastName": "Doe", "Company": "Acme"}, headers=headers
    )
    assert response.status_code == 201, response.text
    lead = salesforce_emulator.records("Lead")[0]
    assert lead["OwnerId"] == _user(salesforce_emulator, owner)
    logged = salesforce_emulator.requests[-1]["headers"]
    assert logged.get("Sforce-Auto-Assign") == header
    assert "Authorization" not in logged


def test_rules_of_other_objects_assign_nothing(
    salesforce_emulator: Emulator, client: Client
) -> None:
    """A Case rule's Id on a Lead save leaves the owner alone (the emulator's choice)."""
    case_rule = _rule(salesforce_emulator, "Standard Case Routing")
    client.post(
        "/sobjects/Lead",
        json={"LastName": "Doe", "Company": "Acme"},
        headers={"Sforce-Auto-Assign": case_rule},
    )
    lead = salesforce_emulator.records("Lead")[0]
    assert lead["OwnerId"] == _user(salesforce_emulator, "admin@emulator.test")


@pytest.mark.parametrize("value", ["yes", "00Q000000000001"], ids=["not-an-id", "wrong-prefix"])
def test_malformed_header_is_malformed_id(
    salesforce_emulator: Emulator, client: Client, value: str
) -> None:
    body = {"records": [{"attributes": {"type": "Lead"}, "LastName": "Doe", "Company": "Acme"}]}
    response = client.post("/composite/sobjects", json=body, headers={"Sforce-Auto-Assign": value})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "MALFORMED_ID"
    assert salesforce_emulator.records("Lead") == []


def _bulk_insert(client: Client, spec: dict[str, Any]) -> Any:
    return client.post(
        "/jobs/ingest",
        json={"object": "Lead", "operation": "insert", "lineEnding": "LF", **spec},
    )


def test_bulk_job_with_a_malformed_rule_id_is_refused(client: Client) -> None:
    response = _bulk_insert(client, {"assignmentRuleId": "not-a-rule"})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "MALFORMED_ID"


@pytest.mark.parametrize(
    ("rule", "owner"),
    [
        pytest.param("Partner Lead Routing", "partners@emulator.test", id="rule-id"),
        pytest.param(None, "admin@emulator.test", id="none-without-the-property"),
    ],
)
def test_bulk_job_runs_its_rule(
    salesforce_emulator: Emulator, client: Client, rule: str | None, owner: str
) -> None:
    spec = {"assignmentRuleId": _rule(salesforce_emulator, rule)} if rule else {}
    job = _bulk_insert(client, spec).json()
    assert job.get("assignmentRuleId") == spec.get("assignmentRuleId")
    put = client.request(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=b"LastName,Company\nDoe,Acme\n",
        headers={"Content-Type": "text/csv"},
    )
    assert put.status_code == 201
    client.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    info = _wait(client, job["id"])
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 1)
    lead = salesforce_emulator.records("Lead")[0]
    assert lead["OwnerId"] == _user(salesforce_emulator, owner)


def _wait(client: Client, job_id: str) -> dict[str, Any]:
    """The job's info once it is terminal (bounded by polls, not by time)."""
    for _ in range(2000):
        info: dict[str, Any] = client.get(f"/jobs/ingest/{job_id}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish")
