"""REST basics and single-record operations (REST API Developer Guide, "sObject Rows" et al.)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from emu_client import Client

from target_salesforce_out.emulator import Emulator


@pytest.fixture
def client(salesforce_emulator: Emulator) -> Iterator[Client]:
    c = Client(salesforce_emulator)
    yield c
    c.close()


def test_versions_list_without_auth_not_counted(salesforce_emulator: Emulator) -> None:
    response = requests.get(f"{salesforce_emulator.base_url}/services/data/", timeout=10)
    assert response.status_code == 200
    versions = response.json()
    assert versions[0] == {"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions
    assert versions[-1]["version"] == "66.0"
    assert "Sforce-Limit-Info" not in response.headers
    assert salesforce_emulator.api_usage == 0


def test_version_segment_and_resources(client: Client) -> None:
    resources = client.get("/")
    assert resources.status_code == 200
    assert resources.json()["sobjects"] == "/services/data/v62.0/sobjects"
    unknown = client.get(f"{client.base}/services/data/v99.0/sobjects")
    assert unknown.status_code == 404
    assert unknown.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_compact_and_pretty_json(client: Client) -> None:
    aid = client.create("Account", Name="Acme")
    compact = client.get(f"/sobjects/Account/{aid}", params={"fields": "Name"})
    assert compact.text == (
        '{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/'
        f'{aid}"}},"Name":"Acme"}}'
    )
    assert compact.headers["Content-Type"] == "application/json;charset=UTF-8"
    pretty = client.post(
        "/sobjects/Account", json={"Name": "Globex"}, headers={"X-PrettyPrint": "1"}
    )
    new_id = pretty.json()["id"]
    assert pretty.text == (f'{{\n  "id" : "{new_id}",\n  "success" : true,\n  "errors" : [ ]\n}}')
    assert client.get("/limits/recordCount?sObjects=Case", headers={"X-PrettyPrint": "1"}).text == (
        '{\n  "sObjects" : [ {\n    "count" : 0,\n    "name" : "Case"\n  } ]\n}'
    )


def test_limit_info_on_every_authenticated_response(client: Client) -> None:
    for number, path in enumerate(["/sobjects", "/limits", "/sobjects/Nope/describe"], start=1):
        assert client.get(path).headers["Sforce-Limit-Info"] == f"api-usage={number}/15000"


def test_414_and_431(client: Client) -> None:
    long_uri = client.get(
        "/query", params={"q": "SELECT Id FROM Account WHERE Name = '" + "x" * 17000 + "'"}
    )
    assert long_uri.status_code == 414
    big_headers = client.get("/limits", headers={"X-Padding": "y" * 16300})
    assert big_headers.status_code == 431
    assert client.get("/limits").status_code == 200


def test_create_retrieve_update_delete(client: Client) -> None:
    aid = client.create("account", name="Acme", NumberOfEmployees=12)
    record = client.get(f"/sobjects/Account/{aid}").json()
    assert record["Name"] == "Acme" and record["NumberOfEmployees"] == 12
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v62.0/sobjects/Account/{aid}",
    }
    assert record["CreatedDate"].endswith("+0000")
    assert client.get(f"/sobjects/Account/{aid[:15]}").json()["Id"] == aid  # 15-char ids work
    update = client.patch(f"/sobjects/Account/{aid}", json={"Industry": "Energy"})
    assert update.status_code == 204 and update.content == b""
    assert client.emulator.records("Account")[0]["Industry"] == "Energy"
    delete = client.delete(f"/sobjects/Account/{aid}")
    assert delete.status_code == 204
    again = client.delete(f"/sobjects/Account/{aid}")
    assert again.status_code == 404
    assert again.json() == [
        {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
    ]
    assert client.get(f"/sobjects/Account/{aid}").status_code == 404
    assert client.emulator.records("Account") == []


def test_not_found_and_malformed_ids(client: Client) -> None:
    missing = client.get("/sobjects/Account/001000000000000AAA")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    bad = client.patch("/sobjects/Account/001000000000000XYZ", json={"Name": "x"})
    assert bad.status_code == 400
    assert bad.json() == [
        {
            "message": "Account ID: id value of incorrect type: 001000000000000XYZ",
            "errorCode": "MALFORMED_ID",
            "fields": ["Id"],
        }
    ]
    assert client.get("/sobjects/Foo__c/describe").status_code == 404
    unknown_ext = client.patch("/sobjects/Account/Nope__c/1", json={})
    assert unknown_ext.status_code == 404
    assert unknown_ext.json()[0]["message"] == (
        "Provided external ID field does not exist or is not accessible: Nope__c"
    )


def test_upsert_statuses_v46_and_v45(salesforce_emulator: Emulator) -> None:
    new = Client(salesforce_emulator)
    old = Client(salesforce_emulator, version="45.0")
    try:
        created = new.patch("/sobjects/Account/External_Id__c/A-1", json={"Name": "Acme"})
        assert created.status_code == 201
        assert created.json() == {
            "id": created.json()["id"],
            "success": True,
            "errors": [],
            "created": True,
        }
        updated = new.patch("/sobjects/Account/External_Id__c/a-1", json={"Name": "Acme 2"})
        assert updated.status_code == 200
        assert updated.json() == {
            "id": created.json()["id"],
            "success": True,
            "errors": [],
            "created": False,
        }
        legacy_update = old.patch("/sobjects/Account/External_Id__c/A-1", json={"Name": "Acme 3"})
        assert legacy_update.status_code == 204 and legacy_update.content == b""
        legacy_create = old.patch("/sobjects/Account/External_Id__c/A-9", json={"Name": "New"})
        assert legacy_create.status_code == 201 and "created" not in legacy_create.json()
        only = new.patch(
            "/sobjects/Account/External_Id__c/A-404?updateOnly=true", json={"Name": "x"}
        )
        assert only.status_code == 404
        by_id = new.patch(f"/sobjects/Account/Id/{created.json()['id']}", json={"Name": "Via Id"})
        assert by_id.status_code == 200
        by_id_create = new.post("/sobjects/Account/Id", json={"Name": "Created via Id"})
        assert by_id_create.status_code == 201
    finally:
        new.close()
        old.close()


def test_upsert_multiple_matches_is_300(client: Client) -> None:
    first = client.create("Invoice__c", Legacy_Number__c="L-1")
    second = client.create("Invoice__c", Legacy_Number__c="l-1")
    response = client.patch("/sobjects/Invoice__c/Legacy_Number__c/L-1", json={"Amount__c": 5})
    assert response.status_code == 300
    assert sorted(response.json()) == sorted(
        f"/services/data/v62.0/sobjects/Invoice__c/{i}" for i in (first, second)
    )
    retrieve = client.get("/sobjects/Invoice__c/Legacy_Number__c/L-1")
    assert retrieve.status_code == 300


def _error(response: requests.Response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    return body[0]


def test_validation_errors_on_single_create(client: Client) -> None:
    assert _error(client.post("/sobjects/Account", json={"Name": "A", "Foo__c": 1})) == {
        "message": "No such column 'Foo__c' on sobject of type Account",
        "errorCode": "INVALID_FIELD",
    }
    assert _error(client.post("/sobjects/Contact", json={"LastName": "X", "Name": "Y"})) == {
        "message": "Unable to create/update fields: Name. Please check the security settings of "
        "this field and verify that it is read/write for your profile or permission set.",
        "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
        "fields": ["Name"],
    }
    assert _error(client.post("/sobjects/Account", json={"Phone": "1"})) == {
        "message": "Required fields are missing: [Name]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["Name"],
    }
    too_long = _error(
        client.post("/sobjects/Account", json={"Name": "A", "AccountNumber": "9" * 41})
    )
    assert too_long == {
        "message": f"Account Number: data value too large: {'9' * 41} (max length=40)",
        "errorCode": "STRING_TOO_LONG",
        "fields": ["AccountNumber"],
    }
    assert _error(
        client.post("/sobjects/Account", json={"Name": "A", "NumberOfEmployees": 123456789})
    ) == {
        "message": "Employees: value outside of valid range on numeric field: 123456789",
        "errorCode": "NUMBER_OUTSIDE_VALID_RANGE",
        "fields": ["NumberOfEmployees"],
    }
    assert _error(
        client.post("/sobjects/Contact", json={"LastName": "X", "Birthdate": "31/01/1980"})
    ) == {
        "message": "Birthdate: value not of required type: 31/01/1980",
        "errorCode": "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "fields": ["Birthdate"],
    }
    assert (
        _error(client.post("/sobjects/Contact", json={"LastName": "X", "DoNotCall": None}))[
            "errorCode"
        ]
        == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    )
    assert _error(client.post("/sobjects/Contact", json={"LastName": "X", "Email": "123"})) == {
        "message": "Email: invalid email address: 123",
        "errorCode": "INVALID_EMAIL_ADDRESS",
        "fields": ["Email"],
    }
    assert client.emulator.records("Contact") == [] and client.emulator.records("Account") == []


def test_datetime_without_colon_is_json_parser_error(client: Client) -> None:
    error = _error(
        client.post(
            "/sobjects/Invoice__c",
            data='{"Paid_At__c": "2013-08-12T15:20:00+0000"}',
            headers={"Content-Type": "application/json"},
        )
    )
    assert error == {
        "message": "Cannot deserialize instance of datetime from VALUE_STRING value "
        "2013-08-12T15:20:00+0000 or request may be missing a required field at [line:1, column:16]",
        "errorCode": "JSON_PARSER_ERROR",
    }
    ok = client.create(
        "Invoice__c", Paid_At__c="2013-08-12T17:20:00.5+02:00", Invoice_Date__c="2024-02-29"
    )
    stored = client.get(f"/sobjects/Invoice__c/{ok}").json()
    assert stored["Paid_At__c"] == "2013-08-12T15:20:00.500+0000"
    assert stored["Invoice_Date__c"] == "2024-02-29"
    assert stored["Name"] == ok  # omitted custom-object Name defaults to the id
    assert stored["Is_Paid__c"] is False  # booleans never null


def test_references_and_duplicates(client: Client) -> None:
    aid = client.create("Account", Name="Acme", External_Id__c="A-1")
    assert _error(
        client.post("/sobjects/Contact", json={"LastName": "X", "AccountId": "001xx"})
    ) == {
        "message": "Account ID: id value of incorrect type: 001xx",
        "errorCode": "MALFORMED_ID",
        "fields": ["AccountId"],
    }
    wrong_type = client.create("Contact", LastName="Someone")
    assert (
        _error(client.post("/sobjects/Contact", json={"LastName": "X", "AccountId": wrong_type}))[
            "errorCode"
        ]
        == "MALFORMED_ID"
    )
    dangling = _error(
        client.post("/sobjects/Contact", json={"LastName": "X", "AccountId": "001000000000000AAA"})
    )
    assert dangling == {
        "message": "invalid cross reference id",
        "errorCode": "INVALID_CROSS_REFERENCE_KEY",
        "fields": [],
    }
    duplicate = client.post("/sobjects/Account", json={"Name": "Other", "External_Id__c": "a-1"})
    assert _error(duplicate) == {
        "message": f"duplicate value found: External_Id__c duplicates value on record with id: {aid}",
        "errorCode": "DUPLICATE_VALUE",
        "fields": [],
    }
    missing_parent = client.post(
        "/sobjects/Contact", json={"LastName": "X", "Account": {"External_Id__c": "A-9"}}
    )
    assert _error(missing_parent) == {
        "message": "Foreign key external ID: A-9 not found for field External_Id__c in entity Account",
        "errorCode": "INVALID_FIELD",
        "fields": [],
    }
    by_parent = client.create("Contact", LastName="Y", Primary_Account__r={"External_Id__c": "a-1"})
    assert client.get(f"/sobjects/Contact/{by_parent}").json()["Primary_Account__c"] == aid


def test_empty_string_stored_as_null_and_insert_with_id_rejected(client: Client) -> None:
    cid = client.create("Contact", LastName="Doe", Title="")
    assert client.get(f"/sobjects/Contact/{cid}").json()["Title"] is None
    error = _error(client.post("/sobjects/Contact", json={"LastName": "Doe", "Id": cid}))
    assert error["errorCode"] == "INVALID_FIELD"


def test_update_clearing_required_field(client: Client) -> None:
    cid = client.create("Contact", LastName="Doe")
    response = client.patch(f"/sobjects/Contact/{cid}", json={"LastName": None})
    assert _error(response)["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_composite_basic_with_references(client: Client) -> None:
    body = {
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v62.0/sobjects/Account",
                "referenceId": "refAccount",
                "body": {"Name": "Acme"},
            },
            {
                "method": "POST",
                "url": "/services/data/v62.0/sobjects/Contact",
                "referenceId": "refContact",
                "body": {"LastName": "Doe", "AccountId": "@{refAccount.id}"},
            },
            {"method": "GET", "url": "/services/data/v62.0/sobjects/Foo", "referenceId": "refX"},
        ]
    }
    response = client.post("/composite", json=body)
    assert response.status_code == 200
    items = response.json()["compositeResponse"]
    account_id = items[0]["body"]["id"]
    assert items[0] == {
        "body": {"id": account_id, "success": True, "errors": []},
        "httpHeaders": {"Location": f"/services/data/v62.0/sobjects/Account/{account_id}"},
        "httpStatusCode": 201,
        "referenceId": "refAccount",
    }
    assert items[1]["httpStatusCode"] == 201
    assert items[2] == {
        "body": [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
        "httpHeaders": {},
        "httpStatusCode": 404,
        "referenceId": "refX",
    }
    assert client.emulator.records("Contact")[0]["AccountId"] == account_id
    assert client.emulator.api_usage == 1  # one call for the whole composite


def test_composite_all_or_none_rolls_back(client: Client) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v62.0/sobjects/Account",
                "referenceId": "a",
                "body": {"Name": "Acme"},
            },
            {
                "method": "POST",
                "url": "/services/data/v62.0/sobjects/Contact",
                "referenceId": "c",
                "body": {"FirstName": "NoLast"},
            },
            {
                "method": "POST",
                "url": "/services/data/v62.0/sobjects/Account",
                "referenceId": "b",
                "body": {"Name": "Never"},
            },
        ],
    }
    items = client.post("/composite", json=body).json()["compositeResponse"]
    assert [i["httpStatusCode"] for i in items] == [400, 400, 400]
    assert items[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert items[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert client.emulator.records("Account") == []


def test_query_paging(client: Client) -> None:
    for number in range(450):
        client.emulator.org.save("insert", "Account", [{"Name": f"A{number:03d}"}])
    first = client.get(
        "/query",
        params={"q": "SELECT Id, Name FROM Account"},
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    body = first.json()
    assert body["totalSize"] == 450 and body["done"] is False and len(body["records"]) == 200
    assert list(body) == ["totalSize", "done", "nextRecordsUrl", "records"]
    locator = body["nextRecordsUrl"]
    assert locator.startswith("/services/data/v62.0/query/01g") and locator.endswith("-200")
    pages = [body]
    while not pages[-1]["done"]:
        pages.append(
            client.get(
                client.base + pages[-1]["nextRecordsUrl"],
                headers={"Sforce-Query-Options": "batchSize=200"},
            ).json()
        )
    assert [len(p["records"]) for p in pages] == [200, 200, 50]
    assert "nextRecordsUrl" not in pages[-1]
    names = [r["Name"] for p in pages for r in p["records"]]
    assert len(set(names)) == 450
    assert client.emulator.api_usage == 3  # each page is an API call
    expired = client.get(client.base + locator)
    assert expired.status_code == 400 and expired.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    default = client.get("/query/", params={"q": "SELECT Id FROM Account"}).json()
    assert len(default["records"]) == 450 and default["done"] is True


def test_query_all_sees_deleted_rows(client: Client) -> None:
    aid = client.create("Account", Name="Gone")
    client.delete(f"/sobjects/Account/{aid}")
    assert client.get("/query", params={"q": "SELECT Id FROM Account"}).json()["totalSize"] == 0
    assert client.get("/queryAll", params={"q": "SELECT Id FROM Account"}).json()["totalSize"] == 1
    error = client.get("/query", params={"q": "SELECT Id FROM Nope"})
    assert error.status_code == 400 and error.json()[0]["errorCode"] == "INVALID_TYPE"
