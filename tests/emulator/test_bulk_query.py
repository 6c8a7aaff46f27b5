"""Bulk API 2.0 query jobs of the emulator (Bulk API 2.0 and Bulk API Developer Guide, the query
job pages), driven with plain ``requests`` as the guide's examples do."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from emu_client import Client

from target_salesforce_out.emulator import Emulator

V = "62.0"


class Jobs(Client):
    """A logged-in session with query job helpers."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator, V)
        self.jobs = f"{self.data}/jobs/query"

    def create_job(self, query: str, **spec: Any) -> requests.Response:
        return self.post("/jobs/query", json={"operation": "query", "query": query, **spec})

    def job(self, query: str, **spec: Any) -> str:
        response = self.create_job(query, **spec)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def wait(self, job_id: str) -> dict[str, Any]:
        seen = []
        for _ in range(500):
            info: dict[str, Any] = self.get(f"/jobs/query/{job_id}").json()
            seen.append(info["state"])
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                info["seen"] = seen
                return info
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish: {seen[-1]}")

    def results(self, job_id: str, **params: Any) -> requests.Response:
        return self.get(f"/jobs/query/{job_id}/results", params=params)

    def run(self, query: str, **spec: Any) -> str:
        job_id = self.job(query, **spec)
        assert self.wait(job_id)["state"] == "JobComplete"
        return job_id


@pytest.fixture
def jobs(salesforce_emulator: Emulator) -> Jobs:
    return Jobs(salesforce_emulator)


@pytest.fixture
def slow(salesforce_emulator: Emulator) -> Jobs:
    """Jobs that stay ``UploadComplete`` for the whole test."""
    salesforce_emulator.app.backend.queries.min_state_seconds = 3600
    return Jobs(salesforce_emulator)


def test_create_poll_and_job_info(jobs: Jobs) -> None:
    jobs.create("Account", Name="Acme")
    created = jobs.create_job("SELECT Id, Name FROM Account")
    assert created.status_code == 200
    body = created.json()
    assert body["id"].startswith("750") and len(body["id"]) == 18
    assert {k: v for k, v in body.items() if k not in ("id", "createdDate", "systemModstamp")} == {
        "operation": "query",
        "object": "Account",
        "createdById": jobs.emulator.org.admin_user_id,
        "state": "UploadComplete",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": 62.0,
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    info = jobs.wait(body["id"])
    assert info["seen"][-1] == "JobComplete" and set(info["seen"]) <= {
        "UploadComplete",
        "InProgress",
        "JobComplete",
    }
    assert info["jobType"] == "V2Query"
    assert info["numberRecordsProcessed"] == 1
    assert info["retries"] == 0 and info["totalProcessingTime"] >= 1


def test_csv_exactly(jobs: Jobs) -> None:
    parent = jobs.create("Account", Name='Quote "Co", Ltd', AnnualRevenue=1500000)
    first = jobs.create(
        "Contact",
        LastName="Doe",
        FirstName="Line\nBreak",
        AccountId=parent,
        Birthdate="1980-01-31",
        DoNotCall=True,
        MailingLatitude=37.25,
    )
    second = jobs.create("Contact", LastName="Roe")
    created = jobs.get(f"/sobjects/Contact/{first}").json()["CreatedDate"]
    utc = created.replace("+0000", "Z")
    query = (
        "SELECT Id, LastName, FirstName, Account.Name, Account.AnnualRevenue, Birthdate, "
        "DoNotCall, MailingLatitude, CreatedDate FROM Contact ORDER BY LastName"
    )
    response = jobs.results(jobs.run(query))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    assert response.headers["Sforce-Locator"] == "null"
    assert response.headers["Sforce-NumberOfRecords"] == "2"
    assert response.text == (
        '"Id","LastName","FirstName","Account.Name","Account.AnnualRevenue","Birthdate",'
        '"DoNotCall","MailingLatitude","CreatedDate"\n'
        f'"{first}","Doe","Line\nBreak","Quote ""Co"", Ltd","1500000.0","1980-01-31","true",'
        f'"37.25","{utc}"\n'
        f'"{second}","Roe","","","","","false","","{created.replace("+0000", "Z")}"\n'
    )
    assert utc.endswith("Z") and len(utc) == len("2024-01-31T12:00:00.000Z")


def test_paging_with_max_records_and_locator(jobs: Jobs) -> None:
    names = [f"A{i}" for i in range(5)]
    for name in names:
        jobs.create("Account", Name=name)
    job_id = jobs.run("SELECT Name FROM Account ORDER BY Name")
    seen: list[str] = []
    counts: list[str] = []
    locators: list[str] = []
    locator = ""
    while True:
        params = {"maxRecords": 2, **({"locator": locator} if locator else {})}
        response = jobs.results(job_id, **params)
        assert response.status_code == 200, response.text
        lines = response.text.splitlines()
        assert lines[0] == '"Name"'
        seen += [line.strip('"') for line in lines[1:]]
        counts.append(response.headers["Sforce-NumberOfRecords"])
        locator = response.headers["Sforce-Locator"]
        locators.append(locator)
        if locator == "null":
            break
    assert seen == names
    assert counts == ["2", "2", "1"]
    assert locators[-1] == "null" and len(set(locators)) == 3
    # A locator stays valid while the job exists and can be read again.
    again = jobs.results(job_id, maxRecords=2, locator=locators[0])
    assert again.text.splitlines()[1:] == ['"A2"', '"A3"']


def test_delimiter_line_ending_and_query_all(jobs: Jobs) -> None:
    kept = jobs.create("Account", Name="Kept")
    gone = jobs.create("Account", Name="Gone")
    assert jobs.delete(f"/sobjects/Account/{gone}").status_code == 204
    query = "SELECT Id, Name, IsDeleted FROM Account ORDER BY Name"
    live = jobs.results(jobs.run(query, columnDelimiter="PIPE", lineEnding="CRLF"))
    assert live.content == f'"Id"|"Name"|"IsDeleted"\r\n"{kept}"|"Kept"|"false"\r\n'.encode()
    every = jobs.results(jobs.run(query, operation="queryAll"))
    assert every.text.splitlines()[1:] == [f'"{gone}","Gone","true"', f'"{kept}","Kept","false"']


def test_no_records_gives_the_header(jobs: Jobs) -> None:
    response = jobs.results(jobs.run("SELECT Id FROM Account WHERE Name = 'nobody'"))
    assert (response.text, response.headers["Sforce-NumberOfRecords"]) == ('"Id"\n', "0")


def test_bad_soql_is_refused_at_create_like_rest(jobs: Jobs) -> None:
    query = "SELECT Foo FROM Account"
    rest = jobs.get("/query", params={"q": query}).json()[0]
    refused = jobs.create_job(query)
    assert refused.status_code == 400
    assert refused.json() == [{"errorCode": "INVALID_FIELD", "message": rest["message"]}]
    assert list(refused.json()[0]) == ["errorCode", "message"]


@pytest.mark.parametrize(
    ("spec", "code", "text"),
    [
        pytest.param(
            {"query": "SELECT COUNT() FROM Account"},
            "API_ERROR",
            "COUNT() not supported in Bulk V2 Query",
            id="count-star",
        ),
        pytest.param(
            {"query": "SELECT COUNT(Id) FROM Account"},
            "API_ERROR",
            "aggregate functions not supported",
            id="aggregate",
        ),
        pytest.param(
            {"query": "SELECT Industry FROM Account GROUP BY Industry"},
            "API_ERROR",
            "GROUP BY not supported",
            id="group-by",
        ),
        pytest.param(
            {"query": "SELECT Id FROM Account OFFSET 5"},
            "API_ERROR",
            "OFFSET not supported",
            id="offset",
        ),
        pytest.param(
            {"query": "SELECT BillingAddress FROM Account"},
            "API_ERROR",
            "Compound fields not supported",
            id="compound-field",
        ),
        pytest.param(
            {"query": "SELECT Id FROM Nope__c"}, "INVALID_TYPE", "sObject type", id="object"
        ),
        pytest.param(
            {"query": "SELECT Id FROM Account", "operation": "insert"},
            "API_ERROR",
            "Invalid value: 'insert' supplied for property: 'operation'",
            id="operation",
        ),
        pytest.param(
            {"query": "SELECT Id FROM Account", "columnDelimiter": "COLON"},
            "API_ERROR",
            "property: 'columnDelimiter'",
            id="delimiter",
        ),
        pytest.param(
            {"query": "SELECT Id FROM Account", "lineEnding": "CR"},
            "API_ERROR",
            "property: 'lineEnding'",
            id="line-ending",
        ),
        pytest.param({"query": ""}, "API_ERROR", "property: 'query'", id="no-query"),
    ],
)
def test_create_errors(jobs: Jobs, spec: dict[str, Any], code: str, text: str) -> None:
    response = jobs.post("/jobs/query", json={"operation": "query", **spec})
    assert response.status_code == 400, response.text
    error = response.json()[0]
    assert error["errorCode"] == code
    assert text in error["message"]


def test_results_before_completion_are_refused(slow: Jobs) -> None:
    job_id = slow.job("SELECT Id FROM Account")
    response = slow.results(job_id)
    assert response.status_code == 412
    assert response.json() == [
        {
            "errorCode": "JOB_NOT_COMPLETE",
            "message": "can only download query results of successfully completed bulk job with "
            "status: JOB_COMPLETE. Current status: UPLOAD_COMPLETE",
        }
    ]


def test_abort_and_delete_states(slow: Jobs) -> None:
    job_id = slow.job("SELECT Id FROM Account")
    early_delete = slow.delete(f"/jobs/query/{job_id}")
    assert early_delete.status_code == 400
    assert early_delete.json() == [
        {
            "errorCode": "API_ERROR",
            "message": "Error encountered when deleting the job because the job is not terminated",
        }
    ]
    bad = slow.patch(f"/jobs/query/{job_id}", json={"state": "UploadComplete"})
    assert bad.status_code == 400
    aborted = slow.patch(f"/jobs/query/{job_id}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert slow.get(f"/jobs/query/{job_id}").json()["state"] == "Aborted"
    again = slow.patch(f"/jobs/query/{job_id}", json={"state": "Aborted"})
    assert again.status_code == 409
    assert slow.results(job_id).status_code == 412
    assert slow.delete(f"/jobs/query/{job_id}").status_code == 204
    assert slow.get(f"/jobs/query/{job_id}").status_code == 404


def test_delete_completed_job(jobs: Jobs) -> None:
    job_id = jobs.run("SELECT Id FROM Account")
    assert jobs.delete(f"/jobs/query/{job_id}").status_code == 204
    gone = jobs.get(f"/jobs/query/{job_id}/results")
    assert gone.status_code == 404
    assert gone.json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        pytest.param({"maxRecords": "0"}, 400, "property: 'maxRecords'", id="max-records-zero"),
        pytest.param({"maxRecords": "x"}, 400, "property: 'maxRecords'", id="max-records-text"),
        pytest.param({"locator": "!!"}, 400, "property: 'locator'", id="locator"),
    ],
)
def test_result_parameter_errors(
    jobs: Jobs, params: dict[str, str], status: int, text: str
) -> None:
    response = jobs.results(jobs.run("SELECT Id FROM Account"), **params)
    assert response.status_code == status
    assert text in response.json()[0]["message"]


def test_results_need_the_creating_api_version(jobs: Jobs) -> None:
    job_id = jobs.run("SELECT Id FROM Account")
    other = jobs.get(f"{jobs.base}/services/data/v61.0/jobs/query/{job_id}/results")
    assert other.status_code == 409


def test_list_jobs_and_unknown_paths(jobs: Jobs) -> None:
    first = jobs.job("SELECT Id FROM Account")
    second = jobs.job("SELECT Id FROM Contact")
    listed = jobs.get("/jobs/query").json()
    assert listed["done"] is True and listed["nextRecordsUrl"] is None
    assert [(r["id"], r["object"], r["jobType"]) for r in listed["records"]] == [
        (first, "Account", "V2Query"),
        (second, "Contact", "V2Query"),
    ]
    assert jobs.get("/jobs/ingest").json()["records"] == []
    assert jobs.get("/jobs/query/750000000000000AAA").status_code == 404
    assert jobs.get(f"/jobs/query/{first}/nothing").status_code == 404
    assert jobs.request("PUT", "/jobs/query").status_code == 405
    assert jobs.request("POST", f"/jobs/query/{first}/results").status_code == 405


def test_every_call_counts_and_limits_show_query_jobs(jobs: Jobs) -> None:
    before = jobs.get("/limits").json()["DailyBulkV2QueryJobs"]
    job_id = jobs.run("SELECT Id FROM Account")
    used = jobs.emulator.api_usage
    response = jobs.results(job_id)
    limit_info = response.headers["Sforce-Limit-Info"]
    assert limit_info.startswith(f"api-usage={used + 1}/")
    after = jobs.get("/limits").json()["DailyBulkV2QueryJobs"]
    assert after == {"Max": before["Max"], "Remaining": before["Remaining"] - 1}
    paths = [e["path"] for e in jobs.emulator.requests if "/jobs/query" in e["path"]]
    counted = [e["counted"] for e in jobs.emulator.requests if "/jobs/query" in e["path"]]
    assert paths[0].endswith("/jobs/query") and all(counted)
