"""Aggregate SOQL of the emulator (SOQL and SOSL Reference, "Aggregate Functions", "GROUP BY").

The evaluator runs against a real in-memory org; the HTTP tests check the REST shape
(``AggregateResult`` rows, one batch) through the ``salesforce_emulator`` fixture.
"""

from __future__ import annotations

from typing import Any

import pytest
from emu_client import Client

from target_salesforce_out.emulator import soql
from target_salesforce_out.emulator.schema import load_schema
from target_salesforce_out.emulator.store import Org

AGG = {"type": "AggregateResult"}


@pytest.fixture(scope="module")
def org() -> Org:
    org = Org(load_schema())
    accounts = [
        {"Name": "Acme", "AnnualRevenue": 1000.0, "NumberOfEmployees": 10, "Industry": "Retail"},
        {"Name": "acme", "AnnualRevenue": 3000.0, "NumberOfEmployees": 30, "Industry": "Retail"},
        {"Name": "Globex", "AnnualRevenue": 501.0, "NumberOfEmployees": None, "Industry": None},
        {"Name": "Initech", "AnnualRevenue": None, "NumberOfEmployees": 5, "Industry": "Banking"},
    ]
    assert all(r.success for r in org.save("insert", "Account", accounts))
    leads = [
        {"LastName": "A", "Company": "C", "LeadSource": "Web"},
        {"LastName": "B", "Company": "C", "LeadSource": "Web"},
        {"LastName": "C", "Company": "C", "LeadSource": "Phone Inquiry"},
        {"LastName": "D", "Company": "C", "LeadSource": None},
    ]
    assert all(r.success for r in org.save("insert", "Lead", leads))
    return org


def run(org: Org, text: str) -> soql.QueryResult:
    return soql.execute(text, org)


@pytest.mark.parametrize(
    ("query", "records"),
    [
        pytest.param(
            "SELECT COUNT(Id) FROM Account",
            [{"attributes": AGG, "expr0": 4}],
            id="count-id-unaliased-is-expr0",
        ),
        pytest.param(
            "SELECT COUNT(Id) n FROM Account WHERE Industry = 'Retail'",
            [{"attributes": AGG, "n": 2}],
            id="count-with-alias-and-where",
        ),
        pytest.param(
            "SELECT COUNT(NumberOfEmployees), COUNT_DISTINCT(Name) FROM Account",
            [{"attributes": AGG, "expr0": 3, "expr1": 3}],
            id="count-field-skips-nulls-distinct-ignores-case",
        ),
        pytest.param(
            "SELECT MIN(AnnualRevenue), MAX(AnnualRevenue) top, SUM(NumberOfEmployees), "
            "AVG(AnnualRevenue) FROM Account",
            [{"attributes": AGG, "expr0": 501, "top": 3000, "expr1": 45, "expr2": 4501 / 3}],
            id="min-max-sum-avg-ignore-nulls-integral-as-int",
        ),
        pytest.param(
            "SELECT MAX(Name) FROM Account WHERE Name = 'nobody'",
            [{"attributes": AGG, "expr0": None}],
            id="no-rows-one-result-with-null",
        ),
        pytest.param(
            "SELECT LeadSource src, COUNT(Id) n FROM Lead GROUP BY LeadSource",
            [
                {"attributes": AGG, "src": "Web", "n": 2},
                {"attributes": AGG, "src": "Phone Inquiry", "n": 1},
                {"attributes": AGG, "src": None, "n": 1},
            ],
            id="group-by-with-aliases",
        ),
        pytest.param(
            "SELECT LeadSource, COUNT(Id) FROM Lead GROUP BY LeadSource ORDER BY COUNT(Id) "
            "DESC, LeadSource LIMIT 2",
            [
                {"attributes": AGG, "LeadSource": "Web", "expr0": 2},
                {"attributes": AGG, "LeadSource": None, "expr0": 1},
            ],
            id="order-by-aggregate-and-limit",
        ),
        pytest.param(
            "SELECT Name, SUM(AnnualRevenue) FROM Account WHERE Industry = 'Retail' GROUP BY Name",
            [{"attributes": AGG, "Name": "Acme", "expr0": 4000}],
            id="text-groups-ignore-case",
        ),
        pytest.param(
            "SELECT Industry, MAX(NumberOfEmployees) most FROM Account GROUP BY Industry "
            "ORDER BY Industry NULLS LAST",
            [
                {"attributes": AGG, "Industry": "Banking", "most": 5},
                {"attributes": AGG, "Industry": "Retail", "most": 30},
                {"attributes": AGG, "Industry": None, "most": None},
            ],
            id="order-by-group-field-nulls-last",
        ),
    ],
)
def test_aggregate_results(org: Org, query: str, records: list[dict[str, Any]]) -> None:
    result = run(org, query)
    assert result.aggregate
    assert result.records == records
    assert result.total_size == len(records)


def test_count_only_is_total_size_and_keeps_limit(org: Org) -> None:
    result = run(org, "SELECT COUNT() FROM Account WHERE Industry = 'Retail'")
    assert (result.total_size, result.records, result.aggregate) == (2, [], False)
    assert run(org, "SELECT COUNT() FROM Account LIMIT 3").total_size == 3


def test_group_by_parent_field_is_keyed_by_field_name(org: Org) -> None:
    account = org.find("Account", "Name", "Globex")[0]
    contacts = [{"LastName": "X", "AccountId": account}, {"LastName": "Y", "AccountId": account}]
    assert all(r.success for r in org.save("insert", "Contact", contacts))
    result = run(
        org,
        "SELECT Account.Name, COUNT(Id) FROM Contact WHERE AccountId != null GROUP BY Account.Name",
    )
    assert result.records == [{"attributes": AGG, "Name": "Globex", "expr0": 2}]


@pytest.mark.parametrize(
    ("query", "code", "text"),
    [
        pytest.param(
            "SELECT Name, COUNT(Id) FROM Account",
            "MALFORMED_QUERY",
            "Field must be grouped or aggregated: Name",
            id="ungrouped-field",
        ),
        pytest.param(
            "SELECT Name, Industry FROM Account GROUP BY Industry",
            "MALFORMED_QUERY",
            "Field must be grouped or aggregated: Name",
            id="field-not-in-group-by",
        ),
        pytest.param(
            "SELECT Name n FROM Account",
            "MALFORMED_QUERY",
            "Only aggregate expressions use field aliasing",
            id="alias-in-plain-query",
        ),
        pytest.param(
            "SELECT COUNT() FROM Account GROUP BY Name",
            "MALFORMED_QUERY",
            "Grouped query cannot use child relationships or COUNT()",
            id="count-star-with-group-by",
        ),
        pytest.param(
            "SELECT COUNT() FROM Account ORDER BY Name",
            "MALFORMED_QUERY",
            "COUNT() and ORDER BY may not be used together",
            id="count-star-with-order-by",
        ),
        pytest.param(
            "SELECT MAX(CreatedDate) FROM Account LIMIT 1",
            "MALFORMED_QUERY",
            "LIMIT is not allowed in an aggregate query without GROUP BY",
            id="aggregate-limit-without-group-by",
        ),
        pytest.param(
            "SELECT SUM(Name) FROM Account",
            "MALFORMED_QUERY",
            "field Name does not support aggregate operator SUM",
            id="sum-of-text",
        ),
        pytest.param(
            "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry HAVING COUNT(Id) > 1",
            "MALFORMED_QUERY",
            "HAVING is not supported by the emulator",
            id="having-unsupported",
        ),
        pytest.param(
            "SELECT COUNT(Foo) FROM Account",
            "INVALID_FIELD",
            "No such column 'Foo' on entity 'Account'.",
            id="unknown-field",
        ),
    ],
)
def test_aggregate_errors(org: Org, query: str, code: str, text: str) -> None:
    with pytest.raises(soql.SoqlError) as caught:
        run(org, query)
    assert caught.value.error_code == code
    assert text in caught.value.message.rsplit("\n", 1)[-1]


# ---------------------------------------------------------------------- over HTTP


def test_rest_aggregate_comes_in_one_batch(salesforce_emulator: Any) -> None:
    emulator = salesforce_emulator
    rows = [{"LastName": f"L{i}", "Company": f"C{i:03d}"} for i in range(300)]
    assert all(r.success for r in emulator.org.save("insert", "Lead", rows))
    api = Client(emulator)
    query = "SELECT Company, COUNT(Id) FROM Lead GROUP BY Company"
    response = api.get(
        "/query", params={"q": query}, headers={"Sforce-Query-Options": "batchSize=200"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["totalSize"], body["done"], len(body["records"])) == (300, True, 300)
    assert "nextRecordsUrl" not in body
    assert body["records"][0] == {"attributes": AGG, "Company": "C000", "expr0": 1}


def test_rest_aggregate_over_2000_groups_is_refused(salesforce_emulator: Any) -> None:
    emulator = salesforce_emulator
    rows = [{"LastName": f"L{i}", "Company": f"C{i}"} for i in range(2001)]
    assert all(r.success for r in emulator.org.save("insert", "Lead", rows))
    api = Client(emulator)
    response = api.get("/query", params={"q": "SELECT Company FROM Lead GROUP BY Company"})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "MALFORMED_QUERY"
    assert "does not support queryMore()" in response.json()[0]["message"]
    limited = api.get(
        "/query", params={"q": "SELECT Company FROM Lead GROUP BY Company LIMIT 2000"}
    )
    assert limited.json()["totalSize"] == 2000
