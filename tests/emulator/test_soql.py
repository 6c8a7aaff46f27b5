"""SOQL parser and evaluator of the emulator (SOQL and SOSL Reference).

Unit tests run the evaluator against the real built-in schema with rows held in a tiny stand-in
org; the HTTP tests at the end go through the ``salesforce_emulator`` fixture with ``requests``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from emu_client import Client

from target_salesforce_out.emulator import ids, soql
from target_salesforce_out.emulator.schema import load_schema

ACC1 = "0015500001QdQWaAAN"
ACC2 = "0015500001QdQWfAAN"
CON1 = "0035500001H9calAAB"
CON2 = ids.fixed_id("003", 2)
CON3 = ids.fixed_id("003", 3)
INV1 = ids.fixed_id("a0B", 1)

INVALID_FIELD_TEXT = (
    "No such column 'Foo' on entity 'Account'. If you are attempting to use a custom field, be "
    "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
    "describe call for the appropriate names."
)


class RowOrg:
    """Just enough of ``Org`` for the evaluator: schema, rows() and get()."""

    def __init__(self, data: dict[str, list[dict[str, Any]]]) -> None:
        self.schema = load_schema()
        self.data = data
        self.rows_calls = 0
        self.find_calls = 0
        self.by_id: dict[str, tuple[str, dict[str, Any]]] = {}
        self.indexes: dict[tuple[str, str], dict[str, list[str]]] = {}

    def rows(self, sobject: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        self.rows_calls += 1
        return list(self.data.get(sobject, []))

    def get(
        self, record_id: str, *, include_deleted: bool = False
    ) -> tuple[str, dict[str, Any]] | None:
        if not self.by_id:
            self.by_id = {r["Id"]: (n, r) for n, rows in self.data.items() for r in rows}
        return self.by_id.get(record_id)

    def find(self, sobject: str, field_name: str, value: Any) -> list[str]:
        """Indexed like the real org: case-insensitive equality on the field."""
        self.find_calls += 1
        key = (sobject, field_name)
        if key not in self.indexes:
            index: dict[str, list[str]] = {}
            for row in self.data.get(sobject, []):
                index.setdefault(str(row.get(field_name)).lower(), []).append(row["Id"])
            self.indexes[key] = index
        return self.indexes[key].get(str(value).lower(), [])


@pytest.fixture
def org() -> RowOrg:
    return RowOrg(
        {
            "Account": [
                {"Id": ACC1, "Name": "Acme", "External_Id__c": "A-1", "AnnualRevenue": 5000.0},
                {"Id": ACC2, "Name": "globex", "External_Id__c": "A-2", "AnnualRevenue": None},
            ],
            "Contact": [
                {
                    "Id": CON1,
                    "LastName": "Doe",
                    "Email": "jdoe@example.com",
                    "AccountId": ACC1,
                    "Birthdate": "1980-01-31",
                    "External_Id__c": "C-1",
                },
                {
                    "Id": CON2,
                    "LastName": "O'Brien_50%",
                    "Email": None,
                    "AccountId": None,
                    "Birthdate": None,
                    "External_Id__c": "C-2",
                },
                {
                    "Id": CON3,
                    "LastName": "roe",
                    "Email": "roe@example.com",
                    "AccountId": ACC2,
                    "Birthdate": "2001-05-06",
                    "External_Id__c": "C-3",
                },
            ],
            "Invoice__c": [
                {
                    "Id": INV1,
                    "Invoice_Number__c": "I-1",
                    "Tags__c": "Urgent;Export",
                    "Paid_At__c": "2024-03-01T10:00:00.000+0000",
                    "Is_Paid__c": True,
                    "Line_Count__c": 3,
                }
            ],
        }
    )


def run(org: RowOrg, text: str) -> soql.QueryResult:
    return soql.execute(text, org)  # type: ignore[arg-type]


def ids_of(result: soql.QueryResult) -> list[str]:
    return [r["Id"] for r in result.records]


def error_of(org: RowOrg, text: str) -> soql.SoqlError:
    with pytest.raises(soql.SoqlError) as info:
        run(org, text)
    return info.value


# --------------------------------------------------------- escapes ("Quoted String Escape Sequences")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (r"a\nb\Nc", "a\nb\nc"),
        (r"\r\R", "\r\r"),
        (r"\t\T", "\t\t"),
        (r"\b\B", "\b\b"),
        (r"\f\F", "\f\f"),
        (r"\"", '"'),
        (r"O\'Brien", "O'Brien"),
        (r"back\\slash", "back\\slash"),
        (r"\u00e9t\u00C9", "\u00e9t\u00c9"),
        (r"a\_b\%c", "a_b%c"),
        ("plain_%", "plain_%"),
    ],
)
def test_escape_table(body: str, expected: str) -> None:
    assert soql.unescape_string(body) == expected


@pytest.mark.parametrize("body", [r"\x", r"\a", r"\u12", r"\q", "\\0"])
def test_unknown_escape_is_rejected(body: str) -> None:
    with pytest.raises(ValueError, match=r"^\\"):
        soql.unescape_string(body)


def test_unknown_escape_in_query_is_malformed_query(org: RowOrg) -> None:
    err = error_of(org, r"SELECT Id FROM Contact WHERE LastName = 'a\qb'")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.startswith(
        "\nSELECT Id FROM Contact WHERE LastName = 'a\\qb'\n" + " " * 40 + "^\n"
        "ERROR at Row:1:Column:41\n"
    )


def test_quoted_value_with_escapes_matches(org: RowOrg) -> None:
    result = run(org, r"SELECT Id FROM Contact WHERE LastName = 'O\'Brien_50%'")
    assert ids_of(result) == [CON2]


def test_client_quote_recipe_round_trips(org: RowOrg) -> None:
    """The client's quoting recipe produces literals this parser decodes back exactly."""
    value = 'It\'s a \\ "test"\n\t\r\b\f_%'
    out = value.replace("\\", "\\\\").replace("'", "\\'")
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    out = out.replace("\b", "\\b").replace("\f", "\\f").replace('"', '\\"')
    assert soql.unescape_string(out) == value


# ---------------------------------------------------------------------- SELECT / FROM


def test_select_fields_shape_and_canonical_keys(org: RowOrg) -> None:
    result = run(org, "select id, lastname from contact where external_id__c = 'C-1'")
    assert result.total_size == 1
    assert result.records == [
        {
            "attributes": {
                "type": "Contact",
                "url": f"/services/data/v62.0/sobjects/Contact/{CON1}",
            },
            "Id": CON1,
            "LastName": "Doe",
        }
    ]


def test_api_version_in_attributes_url(org: RowOrg) -> None:
    result = soql.execute("SELECT Id FROM Account LIMIT 1", org, api_version="58.0")  # type: ignore[arg-type]
    assert result.records[0]["attributes"]["url"].startswith(
        "/services/data/v58.0/sobjects/Account/"
    )


def test_parent_fields_nest_with_attributes_or_null(org: RowOrg) -> None:
    result = run(
        org,
        "SELECT Id, Account.External_Id__c, Account.Name FROM Contact ORDER BY External_Id__c",
    )
    first, second, _ = result.records
    assert first["Account"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{ACC1}"},
        "External_Id__c": "A-1",
        "Name": "Acme",
    }
    assert second["Account"] is None
    assert list(first) == ["attributes", "Id", "Account"]


def test_custom_relationship_path(org: RowOrg) -> None:
    org.data["Invoice__c"][0]["Account__c"] = ACC2
    result = run(org, "SELECT Account__r.Name FROM Invoice__c")
    assert result.records[0]["Account__r"]["Name"] == "globex"


def test_count(org: RowOrg) -> None:
    result = run(org, "SELECT COUNT() FROM Contact WHERE Email != null")
    assert result.total_size == 2
    assert result.records == []


def test_unknown_object_is_invalid_type_with_recorded_message(org: RowOrg) -> None:
    err = error_of(org, "select count() from XYZZY")
    assert err.error_code == "INVALID_TYPE"
    assert err.message == (
        "\nselect count() from XYZZY\n                    ^\nERROR at Row:1:Column:21\n"
        "sObject type 'XYZZY' is not supported. If you are attempting to use a custom object, "
        "be sure to append the '__c' after the entity name. Please reference your WSDL or the "
        "describe call for the appropriate names."
    )


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("SELECT Id, Foo FROM Account", 12),
        ("SELECT Id FROM Account WHERE Foo = 'x'", 30),
        ("SELECT Id FROM Account ORDER BY Foo", 33),
    ],
)
def test_unknown_field_is_invalid_field(org: RowOrg, query: str, column: int) -> None:
    err = error_of(org, query)
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        f"\n{query}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{INVALID_FIELD_TEXT}"
    )


def test_unknown_relationship_is_invalid_field(org: RowOrg) -> None:
    err = error_of(org, "SELECT Foo__r.Name FROM Contact")
    assert err.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Foo__r' in field path." in err.message


@pytest.mark.parametrize(
    ("query", "token", "column"),
    [
        ("SELECT Id form Contact", "form", 11),
        ("SELECT Id FROM Contact WHERE", "<EOF>", 29),
        ("SELECT FROM Contact", "FROM", 8),
        ("SELECT Id FROM Contact LIMIT x", "x", 30),
        ("SELECT Id FROM Contact WHERE LastName = 'x' WITH SECURITY_ENFORCED", "WITH", 45),
    ],
)
def test_syntax_errors_are_malformed_query(
    org: RowOrg, query: str, token: str, column: int
) -> None:
    err = error_of(org, query)
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(f"ERROR at Row:1:Column:{column}\nunexpected token: '{token}'")


def test_error_row_and_column_on_multiline_query(org: RowOrg) -> None:
    err = error_of(org, "SELECT Id\nFROM Account\nWHERE Foo = 1")
    assert "ERROR at Row:3:Column:7\n" in err.message


def test_query_length_limit(org: RowOrg) -> None:
    values = ",".join(f"'{i:08d}'" for i in range(10_000))
    text = f"SELECT Id FROM Contact WHERE External_Id__c IN ({values})"
    assert len(text) > soql.MAX_QUERY_LENGTH
    assert error_of(org, text).error_code == "MALFORMED_QUERY"
    under = text[: soql.MAX_QUERY_LENGTH - 200].rsplit(",", 1)[0] + ")"
    assert run(org, under).total_size == 0


# ---------------------------------------------------------------------- WHERE


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LastName = 'DOE'", [CON1]),  # case-insensitive text equality
        ("LastName != 'doe'", [CON2, CON3]),
        ("LastName <> 'doe'", [CON2, CON3]),
        ("Email = null", [CON2]),
        ("Email != null", [CON1, CON3]),
        ("Email != 'roe@example.com'", [CON1, CON2]),  # != keeps nulls
        ("Birthdate < 2000-01-01", [CON1]),
        ("Birthdate >= 1980-01-31", [CON1, CON3]),
        ("Birthdate > 1980-01-31", [CON3]),
        ("Birthdate <= 1980-01-31", [CON1]),
        ("External_Id__c IN ('c-1', 'C-3')", [CON1, CON3]),
        ("External_Id__c NOT IN ('C-1')", [CON2, CON3]),
        ("Email IN (null)", [CON2]),
        ("LastName LIKE 'd%'", [CON1]),
        ("LastName LIKE '_oe'", [CON1, CON3]),
        ("LastName LIKE '%\\_50\\%'", [CON2]),
        ("LastName LIKE 'O\\'Brien\\_5_\\%'", [CON2]),
        ("LastName LIKE '%\\%%'", [CON2]),
        ("NOT LastName = 'doe'", [CON2, CON3]),
        ("LastName = 'doe' OR LastName = 'roe'", [CON1, CON3]),
        ("(LastName = 'doe' OR Email = null) AND Birthdate = null", [CON2]),
        ("LastName = 'doe' AND (Email = null OR Birthdate = 1980-01-31)", [CON1]),
        ("Account.Name = 'ACME'", [CON1]),
        ("Account.External_Id__c IN ('A-1', 'A-2')", [CON1, CON3]),
        ("AccountId = null", [CON2]),
        (f"AccountId = '{ACC1[:15]}'", [CON1]),
    ],
)
def test_where_operators(org: RowOrg, where: str, expected: list[str]) -> None:
    result = run(org, f"SELECT Id FROM Contact WHERE {where}")
    assert ids_of(result) == expected


def test_like_escapes_are_literal_not_wildcards(org: RowOrg) -> None:
    org.data["Contact"].append({"Id": ids.fixed_id("003", 9), "LastName": "ab"})
    org.data["Contact"].append({"Id": ids.fixed_id("003", 8), "LastName": "a_b"})
    result = run(org, "SELECT LastName FROM Contact WHERE LastName LIKE 'a\\_b'")
    assert [r["LastName"] for r in result.records] == ["a_b"]
    result = run(org, "SELECT LastName FROM Contact WHERE LastName LIKE 'a_b'")
    assert [r["LastName"] for r in result.records] == ["a_b"]
    result = run(org, "SELECT LastName FROM Contact WHERE LastName LIKE 'a%b'")
    assert [r["LastName"] for r in result.records] == ["ab", "a_b"]


@pytest.mark.parametrize(
    ("where", "hit"),
    [
        ("Line_Count__c = 3", True),
        ("Line_Count__c > 2.5", True),
        ("Line_Count__c < -1", False),
        ("Is_Paid__c = true", True),
        ("Is_Paid__c = FALSE", False),
        ("Paid_At__c = 2024-03-01T10:00:00Z", True),
        ("Paid_At__c = 2024-03-01T12:00:00.000+02:00", True),
        ("Paid_At__c > 2024-03-01T10:00:00Z", False),
        ("Paid_At__c < 2024-03-01T10:00:01Z", True),
        ("Paid_At__c < TODAY", True),
        ("Paid_At__c = LAST_N_DAYS:3", False),
        ("Tags__c INCLUDES ('urgent')", True),
        ("Tags__c INCLUDES ('Review', 'Export;Urgent')", True),
        ("Tags__c INCLUDES ('Review')", False),
        ("Tags__c EXCLUDES ('Review')", True),
        ("Tags__c EXCLUDES ('Export')", False),
    ],
)
def test_typed_literals(org: RowOrg, where: str, hit: bool) -> None:
    result = run(org, f"SELECT Id FROM Invoice__c WHERE {where}")
    assert ids_of(result) == ([INV1] if hit else [])


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            "LastName = 5",
            "value of filter criterion for field 'LastName' must be of type string and should be "
            "enclosed in quotes",
        ),
        (
            "Birthdate = '2020-01-01'",
            "value of filter criterion for field 'Birthdate' must be of type date and should not "
            "be enclosed in quotes",
        ),
        ("Id = 'abc'", "invalid ID field: abc"),
        ("Id = '0035500001H9calAAX'", "invalid ID field: 0035500001H9calAAX"),
    ],
)
def test_literal_type_errors(org: RowOrg, where: str, message: str) -> None:
    err = error_of(org, f"SELECT Id FROM Contact WHERE {where}")
    assert err.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert err.message.endswith("\n" + message)


def test_id_accepts_15_and_18_characters(org: RowOrg) -> None:
    assert ids_of(run(org, f"SELECT Id FROM Contact WHERE Id = '{CON1[:15]}'")) == [CON1]
    assert ids_of(run(org, f"SELECT Id FROM Contact WHERE Id = '{CON1}'")) == [CON1]
    lower_suffix = CON1[:15] + CON1[15:].lower()
    assert ids_of(run(org, f"SELECT Id FROM Contact WHERE Id = '{lower_suffix}'")) == [CON1]
    both = f"SELECT Id FROM Contact WHERE Id IN ('{CON1[:15]}', '{CON3}')"
    assert sorted(ids_of(run(org, both))) == sorted([CON1, CON3])


def test_id_and_external_id_filters_use_the_index(org: RowOrg) -> None:
    run(org, f"SELECT Id FROM Contact WHERE Id = '{CON1}' AND LastName != null")
    assert org.rows_calls == 0
    result = run(
        org, "SELECT Id FROM Contact WHERE External_Id__c IN ('c-1', 'C-3') AND Id != null"
    )
    assert org.rows_calls == 0
    assert org.find_calls == 2
    assert ids_of(result) == [CON1, CON3]
    # An Id of another object is not returned.
    assert run(org, f"SELECT Id FROM Account WHERE Id = '{CON1}'").total_size == 0


# ---------------------------------------------------------------------- ORDER BY / LIMIT / OFFSET


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("LastName", [CON1, CON2, CON3]),  # case-insensitive: Doe, O'Brien, roe
        ("LastName DESC", [CON3, CON2, CON1]),
        ("Birthdate", [CON2, CON1, CON3]),  # ASC defaults to NULLS FIRST
        ("Birthdate ASC NULLS LAST", [CON1, CON3, CON2]),
        ("Birthdate DESC", [CON3, CON1, CON2]),  # DESC defaults to NULLS LAST
        ("Birthdate DESC NULLS FIRST", [CON2, CON3, CON1]),
        ("Account.Name DESC NULLS LAST, LastName", [CON3, CON1, CON2]),
    ],
)
def test_order_by(org: RowOrg, order: str, expected: list[str]) -> None:
    assert ids_of(run(org, f"SELECT Id FROM Contact ORDER BY {order}")) == expected


def test_limit_and_offset(org: RowOrg) -> None:
    query = "SELECT Id FROM Contact ORDER BY External_Id__c LIMIT 1 OFFSET 1"
    result = run(org, query)
    assert ids_of(result) == [CON2]
    assert result.total_size == 1
    assert run(org, "SELECT Id FROM Contact LIMIT 0").total_size == 0
    err = error_of(org, "SELECT Id FROM Contact OFFSET 2001")
    assert err.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_where_scan_and_big_in_list_are_fast() -> None:
    rows = [
        {"Id": ids.fixed_id("003", i), "LastName": f"L{i}", "External_Id__c": f"C-{i}"}
        for i in range(100_000)
    ]
    org = RowOrg({"Contact": rows})
    values = ",".join(f"'C-{i}'" for i in range(0, 100_000, 25))  # 4,000 values
    started = time.perf_counter()
    result = run(org, f"SELECT Id FROM Contact WHERE External_Id__c IN ({values})")
    scan = run(org, "SELECT COUNT() FROM Contact WHERE LastName LIKE 'L9%' AND Id != null")
    elapsed = time.perf_counter() - started
    assert result.total_size == 4000
    assert scan.total_size == 11_111
    assert elapsed < 2.0


# ---------------------------------------------------------------------- over HTTP


class Api(Client):
    """A logged-in session for the REST query resource."""

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET ``path`` relative to the emulator's base URL."""
        return self.request("GET", f"{self.base}{path}", **kwargs)

    def query(self, text: str, resource: str = "query", **kwargs: Any) -> requests.Response:
        return self.get(f"/services/data/v62.0/{resource}", params={"q": text}, **kwargs)


@pytest.fixture
def api(salesforce_emulator: Any) -> Api:
    org = salesforce_emulator.org
    accounts = org.save(
        "insert",
        "Account",
        [{"Name": f"Acct {i}", "External_Id__c": f"A-{i}"} for i in range(3)],
    )
    contacts = [
        {
            "LastName": f"Last {i:04d}",
            "External_Id__c": f"C-{i:04d}",
            "AccountId": accounts[i % 2].id if i % 3 else None,
        }
        for i in range(450)
    ]
    assert all(r.success for r in org.save("insert", "Contact", contacts))
    return Api(salesforce_emulator)


def test_http_query_response_shape(api: Api) -> None:
    response = api.query(
        "SELECT Id, External_Id__c, Account.External_Id__c FROM Contact "
        "WHERE External_Id__c IN ('C-0000', 'C-0001') ORDER BY External_Id__c"
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["totalSize", "done", "records"]
    assert body["totalSize"] == 2
    assert body["done"] is True
    first, second = body["records"]
    assert first["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{first['Id']}",
    }
    assert first["Account"] is None
    assert second["Account"]["attributes"]["type"] == "Account"
    assert second["Account"]["External_Id__c"] == "A-1"


def test_http_count_and_trailing_slash(api: Api) -> None:
    response = api.get("/services/data/v62.0/query/", params={"q": "select count() from Contact"})
    assert response.json() == {"totalSize": 450, "done": True, "records": []}


def test_http_query_errors(api: Api) -> None:
    response = api.query("select count() from XYZZY")
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "\nselect count() from XYZZY\n                    ^\n"
            "ERROR at Row:1:Column:21\nsObject type 'XYZZY' is not supported. If you are "
            "attempting to use a custom object, be sure to append the '__c' after the entity "
            "name. Please reference your WSDL or the describe call for the appropriate names.",
            "errorCode": "INVALID_TYPE",
        }
    ]
    bad_field = api.query("SELECT Id, Foo FROM Account").json()[0]
    assert bad_field["errorCode"] == "INVALID_FIELD"
    assert bad_field["message"].endswith(INVALID_FIELD_TEXT)
    bad_escape = api.query(r"SELECT Id FROM Account WHERE Name = '\z'").json()[0]
    assert bad_escape["errorCode"] == "MALFORMED_QUERY"


def test_http_paging(api: Api) -> None:
    response = api.query(
        "SELECT External_Id__c FROM Contact ORDER BY External_Id__c",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    body = response.json()
    assert body["totalSize"] == 450
    assert body["done"] is False
    seen = [r["External_Id__c"] for r in body["records"]]
    while not body["done"]:
        assert body["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
        body = api.get(
            body["nextRecordsUrl"], headers={"Sforce-Query-Options": "batchSize=200"}
        ).json()
        seen += [r["External_Id__c"] for r in body["records"]]
    assert "nextRecordsUrl" not in body
    assert seen == [f"C-{i:04d}" for i in range(450)]


def test_http_query_all_includes_deleted(api: Api, salesforce_emulator: Any) -> None:
    org = salesforce_emulator.org
    victim = org.find("Contact", "External_Id__c", "C-0007")[0]
    assert org.save("delete", "Contact", [{"Id": victim}])[0].success
    where = "SELECT Id FROM Contact WHERE External_Id__c = 'C-0007'"
    assert api.query(where).json()["totalSize"] == 0
    assert api.query(where, resource="queryAll").json()["records"][0]["Id"] == victim
    by_id = f"SELECT Id FROM Contact WHERE Id = '{victim[:15]}'"
    assert api.query(by_id).json()["totalSize"] == 0
    assert api.query(by_id, resource="queryAll").json()["totalSize"] == 1
