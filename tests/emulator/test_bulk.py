"""Bulk API 2.0 ingest of the emulator (Bulk API 2.0 Developer Guide, the ingest job pages).

Driven over HTTP with plain ``requests`` through the ``salesforce_emulator`` fixtures, plus a few
pure unit tests of the CSV helpers.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from emu_client import Client

from target_salesforce_out.emulator import bulk_csv, ids
from target_salesforce_out.emulator.errors import RecordError

V = "62.0"
A2_HEADER = "External_Id__c,LastName,Email,Birthdate"
A2_DATA = f"{A2_HEADER}\nC-1,Doe,jdoe@example.com,1980-01-31\nC-2,,#N/A,#N/A\n"


class Sf(Client):
    """A logged-in session against one emulator, with Bulk job helpers."""

    def __init__(self, emulator: Any) -> None:
        super().__init__(emulator, V)
        self.jobs = f"{self.data}/jobs/ingest"

    def call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        full = url if url.startswith("http") else f"{self.jobs}{url}"
        return self.session.request(method, full, timeout=30, **kwargs)

    def create(self, **spec: Any) -> requests.Response:
        return self.call("POST", "", json=spec)

    def job(self, **spec: Any) -> str:
        response = self.create(**spec)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def upload(self, job_id: str, data: str | bytes, **kwargs: Any) -> requests.Response:
        body = data.encode() if isinstance(data, str) else data
        headers = {"Content-Type": "text/csv", **kwargs.pop("headers", {})}
        return self.call("PUT", f"/{job_id}/batches", data=body, headers=headers, **kwargs)

    def close_job(self, job_id: str, state: str = "UploadComplete") -> requests.Response:
        return self.call("PATCH", f"/{job_id}", json={"state": state})

    def wait(self, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info: dict[str, Any] = self.call("GET", f"/{job_id}").json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                return info
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish")

    def run(self, data: str | bytes, **spec: Any) -> tuple[str, dict[str, Any]]:
        job_id = self.job(**spec)
        assert self.upload(job_id, data).status_code == 201
        assert self.close_job(job_id).status_code == 200
        return job_id, self.wait(job_id)

    def results(self, job_id: str, kind: str) -> requests.Response:
        return self.call("GET", f"/{job_id}/{kind}")

    def rows(self, job_id: str, kind: str, delimiter: str = ",") -> list[dict[str, str]]:
        text = self.results(job_id, kind).text
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))

    def query(self, soql: str) -> dict[str, Any]:
        response = self.get("/query", params={"q": soql})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def sf(salesforce_emulator: Any) -> Sf:
    return Sf(salesforce_emulator)


@pytest.fixture
def make_sf(salesforce_emulator_factory: Callable[..., Any]) -> Callable[..., Sf]:
    def make(**options: Any) -> Sf:
        return Sf(salesforce_emulator_factory(**options))

    return make


def seed_accounts(sf: Sf, *external_ids: str) -> None:
    data = "Name,External_Id__c\n" + "".join(f"Acct {e},{e}\n" for e in external_ids)
    _, info = sf.run(data, object="Account", operation="insert")
    assert info["numberRecordsFailed"] == 0


# ---------------------------------------------------------------------- unit tests


def test_sf_error_cell_format() -> None:
    required = RecordError(
        "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"]
    )
    assert bulk_csv.format_sf_error([required]) == (
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    )
    xref = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
    assert (
        bulk_csv.format_sf_error([xref])
        == "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--"
    )
    two = RecordError("X", "m", ["A", "B"])
    assert bulk_csv.format_sf_error([two]) == "X:m:A,B --"


# ------------------------------------------------- upsert transcript (create, upload, close, results)


def test_bulk_upsert_transcript(sf: Sf) -> None:
    spec = {
        "object": "Contact",
        "operation": "upsert",
        "externalIdFieldName": "External_Id__c",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    created = sf.create(**spec)
    assert created.status_code == 200
    assert created.headers["Content-Type"] == "application/json;charset=UTF-8"
    job = created.json()
    job_id = job["id"]
    assert list(job) == [
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "externalIdFieldName",
        "concurrencyMode",
        "contentType",
        "apiVersion",
        "contentUrl",
        "lineEnding",
        "columnDelimiter",
    ]
    assert job_id.startswith("750")
    assert len(job_id) == 18
    assert ids.normalize(job_id) == job_id
    assert '"apiVersion":62.0,' in created.text
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job_id}/batches"
    assert job["state"] == "Open"
    assert job["concurrencyMode"] == "Parallel"
    assert job["createdDate"].endswith(".000+0000")

    put = sf.upload(job_id, A2_DATA)
    assert put.status_code == 201
    assert put.content == b""
    assert put.headers["Content-Type"].startswith("text/plain")

    closed = sf.close_job(job_id)
    assert closed.status_code == 200
    assert closed.json()["state"] == "UploadComplete"
    assert list(closed.json()) == [
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "externalIdFieldName",
        "concurrencyMode",
        "contentType",
        "apiVersion",
    ]

    first_poll = sf.call("GET", f"/{job_id}").json()
    assert first_poll["state"] in ("UploadComplete", "InProgress")
    seen = {first_poll["state"]}
    while True:
        info = sf.call("GET", f"/{job_id}").json()
        seen.add(info["state"])
        if info["state"] == "JobComplete":
            break
        time.sleep(0.01)
    assert "InProgress" in seen
    assert info["jobType"] == "V2Ingest"
    assert info["numberRecordsProcessed"] == 2
    assert info["numberRecordsFailed"] == 1
    assert info["retries"] == 0
    for key in ("totalProcessingTime", "apiActiveProcessingTime", "apexProcessingTime"):
        assert isinstance(info[key], int)
    assert "errorMessage" not in info

    contact_id = sf.query("SELECT Id FROM Contact WHERE External_Id__c = 'C-1'")["records"][0]["Id"]
    ok = sf.results(job_id, "successfulResults/")
    assert ok.status_code == 200
    assert ok.headers["Content-Type"] == "text/csv"
    assert ok.text == (
        f'"sf__Id","sf__Created",{A2_HEADER}\n'
        f'"{contact_id}","true","C-1","Doe","jdoe@example.com","1980-01-31"\n'
    )
    failed = sf.results(job_id, "failedResults/")
    assert failed.text == (
        f'"sf__Id","sf__Error",{A2_HEADER}\n'
        '"","REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",'
        '"C-2","","#N/A","#N/A"\n'
    )
    unprocessed = sf.results(job_id, "unprocessedrecords/")
    assert unprocessed.text == f"{A2_HEADER}\n"
    assert unprocessed.headers["Content-Type"] == "text/csv"

    assert sf.call("DELETE", f"/{job_id}").status_code == 204
    gone = sf.call("GET", f"/{job_id}")
    assert gone.status_code == 404
    assert gone.json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]


# ---------------------------------------------------------------------- create / state machine


@pytest.mark.parametrize(
    ("spec", "body"),
    [
        (
            {"object": "Foo__c", "operation": "insert"},
            {"errorCode": "INVALIDJOB", "message": "InvalidJob : Unable to find object: Foo__c"},
        ),
        (
            {"object": "Contact", "operation": "upsert", "externalIdFieldName": "Foo__c"},
            {
                "errorCode": "INVALIDJOB",
                "message": "InvalidJob : Field name provided, Foo__c does not match an External "
                "ID for Contact",
            },
        ),
        (
            {"object": "Contact", "operation": "upsert", "externalIdFieldName": "LastName"},
            {
                "errorCode": "INVALIDJOB",
                "message": "InvalidJob : Field name provided, LastName does not match an "
                "External ID for Contact",
            },
        ),
        (
            {"object": "Contact", "operation": "merge"},
            {
                "errorCode": "API_ERROR",
                "message": "Invalid value: 'merge' supplied for property: 'operation'",
            },
        ),
        (
            {"object": "Contact", "operation": "insert", "columnDelimiter": "COLON"},
            {
                "errorCode": "API_ERROR",
                "message": "Invalid value: 'COLON' supplied for property: 'columnDelimiter'",
            },
        ),
    ],
)
def test_create_errors(sf: Sf, spec: dict[str, Any], body: dict[str, str]) -> None:
    response = sf.create(**spec)
    assert response.status_code == 400
    assert response.json() == [body]


def test_create_insert_job_shape(sf: Sf) -> None:
    job = sf.create(object="contact", operation="insert").json()
    assert "externalIdFieldName" not in job
    assert job["object"] == "Contact"
    assert job["lineEnding"] == "LF"
    assert job["columnDelimiter"] == "COMMA"
    upsert_by_id = sf.create(object="Account", operation="upsert", externalIdFieldName="Id")
    assert upsert_by_id.json()["externalIdFieldName"] == "Id"


def test_one_upload_per_job(sf: Sf) -> None:
    job_id = sf.job(object="Account", operation="insert")
    assert sf.upload(job_id, "Name\nA\n").status_code == 201
    second = sf.upload(job_id, "Name\nB\n")
    assert second.status_code == 400
    assert second.json() == [
        {
            "errorCode": "BULK_API_ERROR",
            "message": f"Found multipe contents for job: <{job_id[:15]}>, please 'Close' / "
            "'Abort' / 'Delete' the current Job then create a new Job and make sure you only do "
            "'PUT' once on a given Job.",
        }
    ]
    sf.close_job(job_id)
    late = sf.upload(job_id, "Name\nC\n")
    assert late.status_code >= 400
    assert late.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_upload_size_cap(salesforce_emulator: Any) -> None:
    assert salesforce_emulator.app.bulk.max_upload_bytes == 100 * 1024 * 1024
    salesforce_emulator.app.bulk.max_upload_bytes = 64
    sf = Sf(salesforce_emulator)
    job_id = sf.job(object="Account", operation="insert")
    response = sf.upload(job_id, "Name\n" + "x" * 64 + "\n")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "BULK_API_ERROR"
    assert sf.upload(job_id, "Name\nSmall\n").status_code == 201


def test_gzip_upload(sf: Sf) -> None:
    job_id = sf.job(object="Account", operation="insert")
    body = gzip.compress(b"Name\nZipped\n")
    assert sf.upload(job_id, body, headers={"Content-Encoding": "gzip"}).status_code == 201
    sf.close_job(job_id)
    assert sf.wait(job_id)["numberRecordsProcessed"] == 1


def test_abort_and_state_errors(sf: Sf) -> None:
    job_id = sf.job(object="Account", operation="insert")
    sf.upload(job_id, "Name\nA\nB\n")
    aborted = sf.close_job(job_id, "Aborted")
    assert aborted.status_code == 200
    assert aborted.json()["state"] == "Aborted"
    assert sf.call("GET", f"/{job_id}").json()["state"] == "Aborted"
    assert sf.close_job(job_id).status_code >= 400
    assert sf.close_job(job_id, "Aborted").status_code >= 400
    assert sf.results(job_id, "unprocessedrecords").text == 'Name\n"A"\n"B"\n'
    assert sf.results(job_id, "successfulResults").status_code >= 400
    bad = sf.close_job(job_id, "Closed")
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "API_ERROR"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0

    done_id, _ = sf.run("Name\nC\n", object="Account", operation="insert")
    assert sf.close_job(done_id, "Aborted").status_code >= 400


def test_delete_only_in_allowed_states(sf: Sf) -> None:
    job_id = sf.job(object="Account", operation="insert")
    refused = sf.call("DELETE", f"/{job_id}")
    assert refused.status_code >= 400
    assert refused.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    sf.close_job(job_id, "Aborted")
    assert sf.call("DELETE", f"/{job_id}").status_code == 204
    assert sf.call("GET", f"/{job_id}").status_code == 404
    assert sf.results(job_id, "successfulResults").status_code == 404


def test_unknown_job_and_method(sf: Sf) -> None:
    assert sf.call("GET", "/750000000000000AAA").status_code == 404
    assert sf.call("GET", "/nonsense/successfulResults").status_code == 404
    job_id = sf.job(object="Account", operation="insert")
    wrong = sf.call("POST", f"/{job_id}")
    assert wrong.status_code == 405
    assert wrong.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    assert sf.call("GET", f"/{job_id}/batches").status_code == 405


def test_list_jobs(sf: Sf) -> None:
    first = sf.job(object="Account", operation="insert")
    second = sf.job(object="Contact", operation="upsert", externalIdFieldName="External_Id__c")
    listing = sf.call("GET", "").json()
    assert listing["done"] is True
    assert listing["nextRecordsUrl"] is None
    assert [r["id"] for r in listing["records"]] == [first, second]
    assert list(listing["records"][0]) == [
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "concurrencyMode",
        "contentType",
        "apiVersion",
        "jobType",
    ]
    assert sf.call("GET", "", params={"jobType": "Classic"}).json()["records"] == []


def test_polling_sees_progress_with_record_ms(make_sf: Callable[..., Sf]) -> None:
    sf = make_sf(record_ms=2)
    data = "Name\n" + "".join(f"A{i}\n" for i in range(400))
    job_id = sf.job(object="Account", operation="insert")
    sf.upload(job_id, data)
    sf.close_job(job_id)
    states = []
    partial = False
    while True:
        info = sf.call("GET", f"/{job_id}").json()
        states.append(info["state"])
        if info["state"] == "InProgress" and 0 < info["numberRecordsProcessed"] < 400:
            partial = True
        if info["state"] == "JobComplete":
            break
        time.sleep(0.02)
    assert states[0] in ("UploadComplete", "InProgress")
    assert "InProgress" in states
    assert partial
    assert info["numberRecordsProcessed"] == 400


# ------------------------------------------------------------- CSV dialect ("Prepare CSV Files")


@pytest.mark.parametrize(
    ("name", "char"),
    [
        ("COMMA", ","),
        ("BACKQUOTE", "`"),
        ("CARET", "^"),
        ("PIPE", "|"),
        ("SEMICOLON", ";"),
        ("TAB", "\t"),
    ],
)
def test_column_delimiters(sf: Sf, name: str, char: str) -> None:
    d = char
    data = (
        f"Name{d}Description{d}External_Id__c\n"
        f'"Two\nlines"{d}"has {d} and ""quotes"""{d}A-1\n'
        f" Spaced {d}{d}A-2\n"
    )
    job_id, info = sf.run(data, object="Account", operation="insert", columnDelimiter=name)
    assert info["state"] == "JobComplete", info
    assert info["numberRecordsProcessed"] == 2
    assert info["numberRecordsFailed"] == 0
    records = sf.query(
        "SELECT Name, Description, External_Id__c FROM Account ORDER BY External_Id__c"
    )["records"]
    assert records[0]["Name"] == "Two\nlines"
    assert records[0]["Description"] == f'has {d} and "quotes"'
    assert records[1]["Name"] == " Spaced "  # values are not trimmed
    assert records[1]["Description"] is None
    ok = sf.results(job_id, "successfulResults").text
    header = ok.split("\n", 1)[0]
    assert header == f'"sf__Id"{d}"sf__Created"{d}Name{d}Description{d}External_Id__c'
    assert f'"Two\nlines"{d}"has {d} and ""quotes"""{d}"A-1"' in ok


def test_crlf_line_ending(sf: Sf) -> None:
    data = "Name,External_Id__c\r\nA,A-1\r\nB,A-2\r\n"
    job_id, info = sf.run(data, object="Account", operation="insert", lineEnding="CRLF")
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 2
    names = [r["Name"] for r in sf.query("SELECT Name FROM Account ORDER BY Name")["records"]]
    assert names == ["A", "B"]
    assert sf.results(job_id, "successfulResults").text.startswith(
        '"sf__Id","sf__Created",Name,External_Id__c\r\n"'
    )


@pytest.mark.parametrize(
    ("line_ending", "data"),
    [("LF", "Name\r\nA\r\n"), ("CRLF", "Name\nA\n")],
)
def test_line_ending_mismatch_fails_job(sf: Sf, line_ending: str, data: str) -> None:
    job_id, info = sf.run(data, object="Account", operation="insert", lineEnding=line_ending)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is "
        f"{line_ending}"
    )
    assert info["numberRecordsProcessed"] == 0
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert sf.rows(job_id, "unprocessedrecords")[0]["Name"] == "A"


def test_unknown_header_field_fails_job(sf: Sf) -> None:
    job_id, info = sf.run("Name,Foo__c\nA,1\nB,2\n", object="Account", operation="insert")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Foo__c"
    assert sf.results(job_id, "unprocessedrecords").text == 'Name,Foo__c\n"A","1"\n"B","2"\n'
    assert sf.results(job_id, "successfulResults").text == '"sf__Id","sf__Created",Name,Foo__c\n'
    assert sf.results(job_id, "failedResults").text == '"sf__Id","sf__Error",Name,Foo__c\n'


def test_empty_leaves_field_and_na_sets_null(sf: Sf) -> None:
    sf.run(
        "External_Id__c,LastName,Email,Title\nC-1,Doe,doe@example.com,Boss\n",
        object="Contact",
        operation="insert",
    )
    job_id, info = sf.run(
        "External_Id__c,LastName,Email,Title\nC-1,,#N/A,Chief\n",
        object="Contact",
        operation="upsert",
        externalIdFieldName="External_Id__c",
    )
    assert info["numberRecordsFailed"] == 0
    assert sf.rows(job_id, "successfulResults")[0]["sf__Created"] == "false"
    record = sf.query("SELECT LastName, Email, Title FROM Contact")["records"][0]
    assert record["LastName"] == "Doe"
    assert record["Email"] is None
    assert record["Title"] == "Chief"


def test_typed_values_and_conversion_errors(sf: Sf) -> None:
    data = (
        "Invoice_Number__c,Amount__c,Invoice_Date__c,Paid_At__c,Is_Paid__c,Line_Count__c\n"
        "I-1,12.5,2024-01-31,2024-01-31T10:00:00.000+02:00,TRUE,3\n"
        "I-2,abc,,,,\n"
        "I-3,,2024-13-45,,,\n"
    )
    job_id, info = sf.run(data, object="Invoice__c", operation="insert")
    assert info["numberRecordsProcessed"] == 3
    assert info["numberRecordsFailed"] == 2
    record = sf.query(
        "SELECT Amount__c, Invoice_Date__c, Paid_At__c, Is_Paid__c, Line_Count__c FROM Invoice__c"
    )["records"][0]
    assert record["Amount__c"] == 12.5
    assert record["Invoice_Date__c"] == "2024-01-31"
    assert record["Paid_At__c"] == "2024-01-31T08:00:00.000+0000"
    assert record["Is_Paid__c"] is True
    assert record["Line_Count__c"] == 3
    errors = {r["Invoice_Number__c"]: r["sf__Error"] for r in sf.rows(job_id, "failedResults")}
    assert errors["I-2"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert errors["I-2"].endswith(":Amount__c --")
    assert errors["I-3"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")


def test_relationship_columns(sf: Sf) -> None:
    seed_accounts(sf, "A-1", "A-2")
    data = "External_Id__c,LastName,Account.External_Id__c\nC-1,Doe,A-1\nC-2,Roe,A-9\n"
    job_id, info = sf.run(
        data, object="Contact", operation="upsert", externalIdFieldName="External_Id__c"
    )
    assert info["numberRecordsFailed"] == 1
    record = sf.query("SELECT Account.External_Id__c FROM Contact")["records"][0]
    assert record["Account"]["External_Id__c"] == "A-1"
    failed = sf.results(job_id, "failedResults").text
    assert failed == (
        '"sf__Id","sf__Error",External_Id__c,LastName,Account.External_Id__c\n'
        '"","INVALID_FIELD:Foreign key external ID: A-9 not found for field External_Id__c in '
        'entity Account:--","C-2","Roe","A-9"\n'
    )
    # The polymorphic form `Type:Relationship.Field` on a single-object lookup fails the job
    # (tests/emulator/test_emulator_polymorphic.py covers Task's polymorphic Who/What).
    _, info = sf.run(
        "External_Id__c,Account:Account.External_Id__c\nC-1,A-2\n",
        object="Contact",
        operation="upsert",
        externalIdFieldName="External_Id__c",
    )
    assert (info["state"], info["errorMessage"]) == (
        "Failed",
        "InvalidBatch : type is not needed for non polymorphic foreign key references: Account",
    )
    # `#N/A` clears the lookup.
    sf.run(
        "External_Id__c,Account.External_Id__c\nC-1,#N/A\n",
        object="Contact",
        operation="upsert",
        externalIdFieldName="External_Id__c",
    )
    assert sf.query("SELECT AccountId FROM Contact")["records"][0]["AccountId"] is None
    _, info = sf.run(
        "External_Id__c,Lead:Account.External_Id__c\nC-1,A-2\n",
        object="Contact",
        operation="upsert",
        externalIdFieldName="External_Id__c",
    )
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "InvalidBatch : Field name not found : Lead:Account.External_Id__c"
    )


def test_update_delete_and_hard_delete(sf: Sf) -> None:
    seed_accounts(sf, "A-1", "A-2", "A-3")
    rows = sf.query("SELECT Id, External_Id__c FROM Account ORDER BY External_Id__c")["records"]
    by_ext = {r["External_Id__c"]: r["Id"] for r in rows}
    missing = ids.to18(by_ext["A-1"][:3] + "000000000000")
    job_id, info = sf.run(
        f"Id,Name\n{by_ext['A-1'][:15]},Renamed\n{missing},Ghost\n",
        object="Account",
        operation="update",
    )
    assert info["numberRecordsProcessed"] == 2
    assert info["numberRecordsFailed"] == 1
    assert sf.rows(job_id, "successfulResults")[0]["sf__Id"] == by_ext["A-1"]
    assert sf.rows(job_id, "successfulResults")[0]["sf__Created"] == "false"
    failed = sf.rows(job_id, "failedResults")[0]
    assert failed["sf__Id"] == missing
    assert failed["sf__Error"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    assert (
        sf.query("SELECT Name FROM Account WHERE External_Id__c = 'A-1'")["records"][0]["Name"]
        == "Renamed"
    )

    job_id, info = sf.run(f"Id\n{by_ext['A-1']}\n", object="Account", operation="delete")
    assert info["numberRecordsFailed"] == 0
    assert sf.rows(job_id, "successfulResults")[0]["sf__Created"] == "false"
    job_id, info = sf.run(f"Id\n{by_ext['A-2']}\n", object="Account", operation="hardDelete")
    assert info["numberRecordsFailed"] == 0
    remaining = sf.query("SELECT External_Id__c FROM Account")["records"]
    assert [r["External_Id__c"] for r in remaining] == ["A-3"]


def test_results_are_not_in_upload_order(sf: Sf) -> None:
    count = 12_000
    data = "Name,External_Id__c\n" + "".join(f"N{i},E-{i:05d}\n" for i in range(count))
    job_id, info = sf.run(data, object="Account", operation="insert")
    assert info["numberRecordsProcessed"] == count
    results = sf.rows(job_id, "successfulResults")
    order = [r["External_Id__c"] for r in results]
    assert sorted(order) == [f"E-{i:05d}" for i in range(count)]
    assert order != sorted(order)
    # Rows stay within their internal batch of 10,000.
    assert sorted(order[:10_000]) == [f"E-{i:05d}" for i in range(10_000)]
    assert all(r["sf__Created"] == "true" and len(r["sf__Id"]) == 18 for r in results)


# ---------------------------------------------------------------------- faults


def test_record_error_fault_reaches_bulk_rows(make_sf: Callable[..., Sf]) -> None:
    sf = make_sf(
        faults=[
            {
                "match": {"path_contains": "/jobs/ingest"},
                "record_error": "UNABLE_TO_LOCK_ROW",
                "every_nth_record": 2,
                "first_attempts": 1,
            }
        ]
    )
    data = "Name,External_Id__c\n" + "".join(f"N{i},E-{i}\n" for i in range(4))
    job_id, info = sf.run(
        data, object="Account", operation="upsert", externalIdFieldName="External_Id__c"
    )
    assert info["numberRecordsFailed"] == 2
    failed = sf.rows(job_id, "failedResults")
    assert {r["sf__Error"] for r in failed} == {
        "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--"
    }
    retry = "Name,External_Id__c\n" + "".join(
        f"{r['Name']},{r['External_Id__c']}\n" for r in failed
    )
    _, info = sf.run(
        retry, object="Account", operation="upsert", externalIdFieldName="External_Id__c"
    )
    assert info["numberRecordsFailed"] == 0


def test_fail_job_after_rows_leaves_unprocessed_records(make_sf: Callable[..., Sf]) -> None:
    sf = make_sf(faults=[{"match": {"path_contains": "/jobs/ingest"}, "fail_job_after_rows": 3}])
    data = "Name,External_Id__c\n" + "".join(f"N{i},E-{i}\n" for i in range(5))
    job_id, info = sf.run(data, object="Account", operation="insert")
    assert info["state"] == "Failed"
    assert info["numberRecordsProcessed"] == 3
    assert info["errorMessage"]
    assert len(sf.rows(job_id, "successfulResults")) == 3
    unprocessed = sf.results(job_id, "unprocessedrecords").text
    assert unprocessed == 'Name,External_Id__c\n"N3","E-3"\n"N4","E-4"\n'
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3
