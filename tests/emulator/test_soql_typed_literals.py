"""The emulator's SOQL on the literals the target's lookups send: bare typed values and null.

Numbers, booleans, dates, datetimes and times are unquoted in SOQL; ``= null`` and ``null``
inside ``IN`` find records whose field is empty. Rows are saved through the real org.
"""

from __future__ import annotations

import pytest

from target_salesforce_out.emulator import soql
from target_salesforce_out.emulator.schema import load_schema
from target_salesforce_out.emulator.store import Org

METADATA = {
    "objects": {
        "Typed__c": {
            "label": "Typed",
            "labelPlural": "Typed",
            "fields": {
                "Amount__c": {"type": "double", "precision": 18, "scale": 2},
                "Count__c": {"type": "int", "digits": 9},
                "Day__c": {"type": "date"},
                "Moment__c": {"type": "datetime"},
                "Clock__c": {"type": "time"},
                "Flag__c": {"type": "boolean"},
                "Label__c": {"type": "string", "length": 40},
            },
        }
    }
}


@pytest.fixture(scope="module")
def org() -> Org:
    org = Org(load_schema(METADATA))
    rows = [
        {
            "Name": "a",
            "Amount__c": 5,
            "Count__c": 7,
            "Day__c": "2024-01-02",
            "Moment__c": "2024-01-02T05:04:05.123+02:00",
            "Clock__c": "13:30:00.500Z",
            "Flag__c": True,
            "Label__c": "Acme",
        },
        {"Name": "b", "Amount__c": 5.25, "Day__c": "2024-01-03", "Flag__c": False},
    ]
    results = org.save("insert", "Typed__c", rows)
    assert all(r.success for r in results)
    return org


def names(org: Org, where: str) -> list[str]:
    result = soql.execute(f"SELECT Name FROM Typed__c WHERE {where} ORDER BY Name", org)
    return [r["Name"] for r in result.records]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param("Amount__c = 5", ["a"], id="integer-literal-on-stored-double"),
        pytest.param("Amount__c IN (5.0, 5.25)", ["a", "b"], id="decimals-in-IN"),
        pytest.param("Amount__c IN (-0, 5.250)", ["b"], id="trailing-zero-decimal"),
        pytest.param("Count__c = null", ["b"], id="eq-null"),
        pytest.param("Count__c IN (7, null)", ["a", "b"], id="null-in-IN"),
        pytest.param("(Count__c IN (8) OR Count__c = null)", ["b"], id="in-or-null"),
        pytest.param("Day__c IN (2024-01-02, 2024-01-05)", ["a"], id="dates-in-IN"),
        pytest.param("Day__c = 2024-01-03", ["b"], id="date-eq"),
        pytest.param("Moment__c = 2024-01-02T03:04:05.123Z", ["a"], id="datetime-utc"),
        pytest.param(
            "Moment__c IN (2024-01-02T03:04:05.000Z, 2024-01-02T03:04:05.123Z)",
            ["a"],
            id="datetimes-in-IN",
        ),
        pytest.param("Moment__c = null", ["b"], id="datetime-null"),
        pytest.param("Clock__c = 13:30:00.500Z", ["a"], id="time-eq"),
        pytest.param("Clock__c IN (13:30:00.5Z, 01:00:00Z)", ["a"], id="time-in-IN"),
        pytest.param("Clock__c = 13:30:00.000Z", [], id="time-other-millis"),
        pytest.param("Flag__c = false", ["b"], id="boolean"),
        pytest.param("Label__c = 'ACME'", ["a"], id="text-case-insensitive"),
        pytest.param("Label__c = null AND Flag__c = false", ["b"], id="text-null"),
    ],
)
def test_typed_literals_match_stored_values(org: Org, where: str, expected: list[str]) -> None:
    assert names(org, where) == expected


@pytest.mark.parametrize(
    ("where", "message"),
    [
        pytest.param(
            "Clock__c = '13:30:00.500Z'",
            "value of filter criterion for field 'Clock__c' must be of type time and should not "
            "be enclosed in quotes",
            id="quoted-time",
        ),
        pytest.param(
            "Moment__c IN ('2024-01-02T03:04:05.123Z')",
            "value of filter criterion for field 'Moment__c' must be of type dateTime and should "
            "not be enclosed in quotes",
            id="quoted-datetime",
        ),
        pytest.param(
            "Amount__c = '5'",
            "value of filter criterion for field 'Amount__c' must be of type double and should "
            "not be enclosed in quotes",
            id="quoted-number",
        ),
        pytest.param(
            "Label__c = 13:30:00Z",
            "value of filter criterion for field 'Label__c' must be of type string and should be "
            "enclosed in quotes",
            id="bare-time-on-text",
        ),
    ],
)
def test_typed_literal_errors(org: Org, where: str, message: str) -> None:
    with pytest.raises(soql.SoqlError) as info:
        names(org, where)
    assert info.value.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert info.value.message.endswith("\n" + message)
