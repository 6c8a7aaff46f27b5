"""SOSL ``GET /search/?q=FIND {...}`` of the emulator (REST API Developer Guide, "Search";
SOQL and SOSL Reference, "SOSL Syntax")."""

from __future__ import annotations

from typing import Any

import pytest
from emu_client import Client

from target_salesforce_out.emulator import Emulator


@pytest.fixture
def api(salesforce_emulator: Emulator) -> Client:
    return Client(salesforce_emulator)


@pytest.fixture
def seeded(api: Client) -> dict[str, str]:
    return {
        "acme": api.create("Account", Name="Acme Corp", Phone="555-0100"),
        "globex": api.create("Account", Name="Globex", Website="acme.example.com"),
        "acmeville": api.create("Account", Name="Acmeville"),
        "doe": api.create("Contact", LastName="Doe", Email="jdoe@acme.example.com"),
        "roe": api.create("Contact", LastName="Roe", Title="Acme buyer"),
    }


def search(api: Client, sosl: str) -> Any:
    response = api.get("/search/", params={"q": sosl})
    assert response.status_code == 200, response.text
    return response.json()


def ids_of(body: Any) -> list[str]:
    return [str(r["attributes"]["url"]).rsplit("/", 1)[-1] for r in body["searchRecords"]]


def test_returning_fields_shape(api: Client, seeded: dict[str, str]) -> None:
    body = search(api, "FIND {ACME} RETURNING Account(Name, Phone)")
    assert body == {
        "searchRecords": [
            {
                "attributes": {
                    "type": "Account",
                    "url": f"/services/data/v62.0/sobjects/Account/{seeded['acme']}",
                },
                "Name": "Acme Corp",
                "Phone": "555-0100",
            },
            {
                "attributes": {
                    "type": "Account",
                    "url": f"/services/data/v62.0/sobjects/Account/{seeded['globex']}",
                },
                "Name": "Globex",
                "Phone": None,
            },
        ]
    }


@pytest.mark.parametrize(
    ("sosl", "expected"),
    [
        pytest.param(
            "FIND {acme} RETURNING Account(Name), Contact(LastName)",
            ["acme", "globex", "doe", "roe"],
            id="objects-in-returning-order",
        ),
        pytest.param("FIND {acme}", ["acme", "globex", "doe", "roe"], id="no-returning-ids"),
        pytest.param(
            "FIND {acm*} RETURNING Account", ["acme", "globex", "acmeville"], id="wildcard"
        ),
        pytest.param("FIND {acme?ille} RETURNING Account", ["acmeville"], id="one-char-wildcard"),
        pytest.param("FIND {acme buyer}", ["roe"], id="every-word-required"),
        pytest.param("FIND {jdoe@acme.example.com}", ["doe"], id="email-address"),
        pytest.param("FIND {acme} IN EMAIL FIELDS", ["doe"], id="email-fields"),
        pytest.param("FIND {acme} IN NAME FIELDS RETURNING Account", ["acme"], id="name-fields"),
        pytest.param(
            "FIND {acme} RETURNING Account, Contact LIMIT 3", ["acme", "globex", "doe"], id="limit"
        ),
        pytest.param("FIND {nothing} RETURNING Account", [], id="no-match"),
    ],
)
def test_matching(api: Client, seeded: dict[str, str], sosl: str, expected: list[str]) -> None:
    assert ids_of(search(api, sosl)) == [seeded[name] for name in expected]


def test_without_field_list_only_id(api: Client, seeded: dict[str, str]) -> None:
    record = search(api, "FIND {Globex} RETURNING Account")["searchRecords"][0]
    assert set(record) == {"attributes", "Id"}
    assert record["Id"] == seeded["globex"]


def test_parent_field_in_returning(api: Client) -> None:
    account = api.create("Account", Name="Initech")
    api.create("Contact", LastName="Lumbergh", AccountId=account)
    record = search(api, "FIND {lumbergh} RETURNING Contact(LastName, Account.Name)")[
        "searchRecords"
    ][0]
    assert record["Account"]["Name"] == "Initech"


@pytest.mark.parametrize(
    ("sosl", "code", "text"),
    [
        pytest.param("FIND acme", "MALFORMED_SEARCH", "enclosed in braces", id="no-braces"),
        pytest.param("FIND {a}", "MALFORMED_SEARCH", "longer than one character", id="one-char"),
        pytest.param("FIND {acme OR globex}", "MALFORMED_SEARCH", "OR operator", id="or"),
        pytest.param('FIND {"acme corp"}', "MALFORMED_SEARCH", "quoted phrase", id="phrase"),
        pytest.param(
            "FIND {acme} RETURNING Account(Name WHERE Phone != null)",
            "MALFORMED_SEARCH",
            "WHERE inside RETURNING is not supported by the emulator",
            id="where-in-returning",
        ),
        pytest.param(
            "FIND {acme} IN SIDEBAR FIELDS",
            "MALFORMED_SEARCH",
            "IN SIDEBAR FIELDS is not supported",
            id="sidebar",
        ),
        pytest.param(
            "FIND {acme} WITH SNIPPET",
            "MALFORMED_SEARCH",
            "'WITH' after the search query is not supported",
            id="with",
        ),
        pytest.param(
            "FIND {acme} RETURNING Nope__c", "INVALID_TYPE", "sObject type 'Nope__c'", id="object"
        ),
        pytest.param(
            "FIND {acme} RETURNING Account(Foo)",
            "INVALID_FIELD",
            "No such column 'Foo' on entity 'Account'",
            id="field",
        ),
    ],
)
def test_errors(api: Client, seeded: dict[str, str], sosl: str, code: str, text: str) -> None:
    response = api.get("/search/", params={"q": sosl})
    assert response.status_code == 400, response.text
    error = response.json()[0]
    assert error["errorCode"] == code
    assert text in error["message"]


def test_search_is_get_only(api: Client) -> None:
    assert api.post("/search/", json={}).status_code == 405
