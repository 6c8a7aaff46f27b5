"""sObject Collections create/update/upsert/delete (REST API Developer Guide, "sObject Collections")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emu_client import Client

from target_salesforce_out.emulator import Emulator

ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
    "fields": [],
}


@pytest.fixture
def client(salesforce_emulator: Emulator) -> Iterator[Client]:
    c = Client(salesforce_emulator)
    yield c
    c.close()


def contact(**fields: object) -> dict[str, object]:
    return {"attributes": {"type": "Contact"}, **fields}


def test_create_mixed_types_in_order_no_id_on_failure(client: Client) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "Acme", "External_Id__c": "A-1"},
        contact(FirstName="NoLast"),
        contact(LastName="Doe"),
        {"attributes": {"type": "Nope__c"}, "Name": "x"},
    ]
    response = client.post("/composite/sobjects", json={"allOrNone": False, "records": records})
    assert response.status_code == 200
    results = response.json()
    assert results[0]["success"] and results[0]["id"].startswith("001")
    assert list(results[0]) == ["id", "success", "errors"]  # no "created" outside upsert
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert results[2]["success"] and results[2]["id"].startswith("003")
    assert results[3]["errors"][0]["statusCode"] == "INVALID_TYPE"
    assert len(client.emulator.records("Contact")) == 1


def test_all_or_none_rolls_back_innocent_records(client: Client) -> None:
    records = [contact(LastName="A"), contact(LastName=None), contact(LastName="C")]
    results = client.post(
        "/composite/sobjects", json={"allOrNone": True, "records": records}
    ).json()
    assert results[0] == {"success": False, "errors": [ROLLED_BACK]}
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[2] == {"success": False, "errors": [ROLLED_BACK]}
    assert client.emulator.records("Contact") == []


def test_update_and_delete_collections(client: Client) -> None:
    first = client.create("Contact", LastName="A")
    second = client.create("Contact", LastName="B")
    update = client.patch(
        "/composite/sobjects",
        json={
            "records": [
                contact(id=first, Title="CEO"),
                contact(Id=second, Loyalty_Tier__c="Bronze"),
                contact(Title="no id"),
            ]
        },
    ).json()
    assert update[0] == {"id": first, "success": True, "errors": []}
    assert update[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert update[2]["success"] is False
    delete = client.delete(
        "/composite/sobjects", params={"ids": f"{second},{first[:15]},001000000000000AAA,bogus"}
    ).json()
    assert delete[0] == {"id": second, "success": True, "errors": []}
    assert delete[1] == {"id": first, "success": True, "errors": []}
    assert delete[2]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert delete[3] == {
        "success": False,
        "errors": [{"statusCode": "MALFORMED_ID", "message": "malformed id bogus", "fields": []}],
    }
    again = client.delete("/composite/sobjects", params={"ids": first}).json()
    assert again[0]["errors"][0] == {
        "statusCode": "ENTITY_IS_DELETED",
        "message": "entity is deleted",
        "fields": [],
    }


def test_delete_all_or_none(client: Client) -> None:
    aid = client.create("Account", Name="Keep")
    results = client.delete(
        "/composite/sobjects", params={"ids": f"{aid},bogus", "allOrNone": "true"}
    ).json()
    assert results[0] == {"success": False, "errors": [ROLLED_BACK]}
    assert len(client.emulator.records("Account")) == 1


def test_upsert_created_flags_and_duplicates_in_request(client: Client) -> None:
    client.create("Contact", LastName="Existing", External_Id__c="C-1")
    records = [
        contact(External_Id__c="c-1", LastName="Updated"),
        contact(External_Id__c="C-2", LastName="New"),
        contact(External_Id__c="D-1", LastName="Twice"),
        contact(External_Id__c="d-1", LastName="Twice again"),
    ]
    results = client.patch(
        "/composite/sobjects/Contact/External_Id__c", json={"records": records}
    ).json()
    assert results[0]["created"] is False and results[1]["created"] is True
    for position, value in ((2, "D-1"), (3, "d-1")):
        assert results[position] == {
            "success": False,
            "errors": [
                {
                    "statusCode": "DUPLICATE_VALUE",
                    "message": f"Duplicate external id specified: {value}",
                    "fields": [],
                }
            ],
        }
    names = sorted(r["LastName"] for r in client.emulator.records("Contact"))
    assert names == ["New", "Updated"]


def test_upsert_multi_match_is_duplicate_external_id(client: Client) -> None:
    first = client.create("Invoice__c", Legacy_Number__c="L-1")
    second = client.create("Invoice__c", Legacy_Number__c="L-1")
    results = client.patch(
        "/composite/sobjects/Invoice__c/Legacy_Number__c",
        json={"records": [{"attributes": {"type": "Invoice__c"}, "Legacy_Number__c": "L-1"}]},
    ).json()
    ids = ", ".join(sorted([first, second]))
    assert results == [
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "DUPLICATE_EXTERNAL_ID",
                    "message": f"Legacy Number: more than one record found for external id field: [{ids}]",
                    "fields": ["Legacy_Number__c"],
                }
            ],
        }
    ]


def test_upsert_by_id_inserts_records_without_id(client: Client) -> None:
    existing = client.create("Contact", LastName="A")
    results = client.patch(
        "/composite/sobjects/Contact/Id",
        json={"records": [contact(Id=existing, LastName="A2"), contact(Id=None, LastName="B")]},
    ).json()
    assert results[0] == {"id": existing, "success": True, "errors": [], "created": False}
    assert results[1]["created"] is True


def test_request_level_errors(client: Client) -> None:
    too_many = [contact(LastName=str(i)) for i in range(201)]
    response = client.post("/composite/sobjects", json={"records": too_many})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert client.post("/composite/sobjects", json={"allOrNone": False}).status_code == 400
    bad_json = client.post(
        "/composite/sobjects", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    unknown_object = client.patch("/composite/sobjects/Nope__c/Ext__c", json={"records": []})
    assert unknown_object.status_code == 400
    not_external = client.patch("/composite/sobjects/Contact/LastName", json={"records": []})
    assert not_external.status_code == 400
    chunks = [
        {"attributes": {"type": "Account" if i % 2 else "Contact"}, "LastName": "x", "Name": "y"}
        for i in range(11)
    ]
    assert client.post("/composite/sobjects", json={"records": chunks}).status_code == 400
    unknown_field = client.post(
        "/composite/sobjects", json={"records": [contact(LastName="x", Foo__c=1)]}
    )
    assert unknown_field.status_code == 400
    assert unknown_field.json()[0]["errorCode"] == "INVALID_FIELD"
    assert client.emulator.records("Contact") == []


def test_exactly_200_records_accepted_and_counted_once(client: Client) -> None:
    records = [contact(LastName=f"L{i}", External_Id__c=f"E-{i}") for i in range(200)]
    results = client.patch(
        "/composite/sobjects/Contact/External_Id__c", json={"records": records}
    ).json()
    assert len(results) == 200 and all(r["success"] for r in results)
    stored = {r["Id"]: r["External_Id__c"] for r in client.emulator.records("Contact")}
    assert [stored[r["id"]] for r in results] == [f"E-{i}" for i in range(200)]  # input order
    assert client.emulator.api_usage == 1


def test_collections_upsert_lookup_by_parent_external_id(client: Client) -> None:
    results = client.patch(
        "/composite/sobjects/Contact/External_Id__c",
        json={
            "records": [
                contact(External_Id__c="C-1", LastName="D", Account={"External_Id__c": "A-404"})
            ]
        },
    ).json()
    assert results[0]["errors"][0] == {
        "statusCode": "INVALID_FIELD",
        "message": "Foreign key external ID: A-404 not found for field External_Id__c in entity Account",
        "fields": [],
    }
