"""The JSON encoder of Collections bodies (target_salesforce_out.wire), value by value."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from target_salesforce_out.wire import encode_collection, encode_record, encode_value

VALUES = [
    pytest.param(None, "null", id="null"),
    pytest.param(True, "true", id="true"),
    pytest.param(False, "false", id="false-not-zero"),
    pytest.param(0, "0", id="int-zero"),
    pytest.param(-42, "-42", id="negative-int"),
    pytest.param(10**30, "1" + "0" * 30, id="int-beyond-64-bits"),
    pytest.param(
        Decimal("123456789012345678.12"), "123456789012345678.12", id="decimal-every-digit"
    ),
    pytest.param(Decimal("0.1"), "0.1", id="decimal-not-binary"),
    pytest.param(Decimal("1.50"), "1.50", id="decimal-keeps-trailing-zero"),
    pytest.param(Decimal("1E+3"), "1000", id="decimal-exponent-written-out"),
    pytest.param(Decimal("1E-7"), "0.0000001", id="decimal-small-exponent-written-out"),
    pytest.param(Decimal("-0"), "-0", id="decimal-negative-zero"),
    pytest.param("", '""', id="empty-text"),
    pytest.param("Zoë 東京 😀", '"Zoë 東京 😀"', id="unicode-as-is"),
    pytest.param('say "hi"\\', '"say \\"hi\\"\\\\"', id="quote-and-backslash"),
    pytest.param("a\nb\tc\x00", '"a\\nb\\tc\\u0000"', id="control-characters-escaped"),
    pytest.param("\u2028\u2029", '"\u2028\u2029"', id="line-separators-as-is"),
    # Dates and datetimes reach the encoder as Salesforce's text forms (mapping's converters).
    pytest.param("2024-01-31", '"2024-01-31"', id="date-text"),
    pytest.param("2024-01-31T13:45:00.250Z", '"2024-01-31T13:45:00.250Z"', id="datetime-text"),
    pytest.param({"External_Id__c": "A-1"}, '{"External_Id__c":"A-1"}', id="lookup-object"),
]


@pytest.mark.parametrize(("value", "expected"), VALUES)
def test_encode_value(value, expected):
    assert encode_value(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(Decimal("NaN"), id="nan"),
        pytest.param(Decimal("sNaN"), id="signalling-nan"),
        pytest.param(Decimal("Infinity"), id="infinity"),
        pytest.param(Decimal("-Infinity"), id="minus-infinity"),
    ],
)
def test_non_finite_numbers_have_no_json_form(value):
    with pytest.raises(ValueError, match="no JSON form"):
        encode_value(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1.5, id="float"),
        pytest.param(float("nan"), id="float-nan"),
        pytest.param(datetime(2024, 1, 31, 13, 45, tzinfo=UTC), id="datetime-object"),
        pytest.param(date(2024, 1, 31), id="date-object"),
        pytest.param(time(13, 45), id="time-object"),
        pytest.param(["A", "B"], id="list"),
        pytest.param(b"bytes", id="bytes"),
    ],
)
def test_unconverted_values_are_refused_not_sent_as_python_text(value):
    with pytest.raises(TypeError, match="convert it for its field"):
        encode_value(value)


def test_record_has_its_type_first_and_nests_relationship_paths():
    text = encode_record(
        "Contact",
        {"LastName": "Doe", "Account.External_Id__c": "A-1", "Amount__c": Decimal("2.50")},
    )
    assert text == (
        '{"attributes":{"type":"Contact"},"LastName":"Doe",'
        '"Account":{"External_Id__c":"A-1"},"Amount__c":2.50}'
    )


def test_a_null_relationship_path_is_a_null_inside_the_object():
    assert encode_record("Contact", {"Account.External_Id__c": None}) == (
        '{"attributes":{"type":"Contact"},"Account":{"External_Id__c":null}}'
    )


@pytest.mark.parametrize(
    ("all_or_none", "flag"), [pytest.param(False, "false", id="partial"), (True, "true")]
)
def test_collection_body(all_or_none, flag):
    body = encode_collection("Account", [{"Name": "A"}, {"Name": "B"}], all_or_none=all_or_none)
    assert (
        body
        == (
            f'{{"allOrNone":{flag},"records":['
            '{"attributes":{"type":"Account"},"Name":"A"},'
            '{"attributes":{"type":"Account"},"Name":"B"}]}'
        ).encode()
    )


def test_collection_body_is_utf8():
    body = encode_collection("Account", [{"Name": "Zoë"}])
    assert "Zoë".encode() in body


FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=("Cs",))),
)


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda k: "." not in k and k != "attributes"), FIELD_VALUES
    )
)
def test_the_body_reads_back_as_the_same_values(fields):
    body = encode_collection("X__c", [fields])
    [record] = json.loads(body, parse_float=Decimal, parse_int=Decimal)["records"]
    assert record.pop("attributes") == {"type": "X__c"}
    assert record.keys() == fields.keys()
    for name, value in fields.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            assert record[name] == value
        else:
            # Same number, written without exponent (so every digit is in the text).
            assert record[name] == Decimal(value)
            assert "e" not in encode_value(value).lower()
