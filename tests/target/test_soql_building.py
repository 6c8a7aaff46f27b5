"""SOQL building and value comparison (target_salesforce_out.soql), unit by unit."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from target_salesforce_out.emulator.soql import _tokenize, unescape_string
from target_salesforce_out.soql import (
    MAX_ENCODED_QUERY,
    _MatchClauses,
    key_of,
    key_variants,
    literal,
    match_key,
)

ACC15, ACC18 = "001D000000IRFma", "001D000000IRFmaIAH"


@pytest.mark.parametrize(
    ("value", "field_type", "expected"),
    [
        pytest.param(Decimal(5), "double", "5", id="decimal-bare"),
        pytest.param(Decimal("5.10"), "currency", "5.1", id="trailing-zero-dropped"),
        pytest.param(Decimal("1E+3"), "int", "1000", id="no-exponent"),
        pytest.param(Decimal("-0.00"), "percent", "0", id="negative-zero"),
        pytest.param(-7, "long", "-7", id="negative-int"),
        pytest.param(True, "boolean", "true", id="boolean"),
        pytest.param(None, "boolean", "false", id="null-checkbox-is-false"),
        pytest.param("2024-01-02", "date", "2024-01-02", id="date-bare"),
        pytest.param(date(2024, 1, 2), "date", "2024-01-02", id="date-object"),
        pytest.param(
            "2024-01-02T05:04:05.123+02:00",
            "datetime",
            "2024-01-02T03:04:05.123Z",
            id="datetime-to-utc",
        ),
        pytest.param(
            datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=timezone(timedelta(hours=-8))),
            "datetime",
            "2024-01-02T11:04:05.999Z",
            id="datetime-object-millis",
        ),
        pytest.param("13:30:00.5Z", "time", "13:30:00.500Z", id="time-bare"),
        pytest.param(time(1, 2, 3), "time", "01:02:03.000Z", id="time-object"),
        pytest.param("O'Brien\\", "string", "'O\\'Brien\\\\'", id="text-escaped"),
        pytest.param("ACME", "email", "'ACME'", id="email-quoted-as-given"),
        pytest.param(ACC15, "reference", f"'{ACC18}'", id="id-as-18"),
        pytest.param("", "string", "null", id="empty-text-is-null"),
        pytest.param(None, "date", "null", id="null"),
        pytest.param("5' OR Name != '", "double", "'5\\' OR Name != \\''", id="bad-number-quoted"),
        pytest.param("2024-13-45", "date", "'2024-13-45'", id="bad-date-quoted"),
        pytest.param(Decimal("2.5"), None, "2.5", id="untyped-number"),
        pytest.param("A-1", None, "'A-1'", id="untyped-text"),
    ],
)
def test_literal(value, field_type, expected):
    assert literal(value, field_type) == expected


@pytest.mark.parametrize(
    ("field_type", "left", "right"),
    [
        pytest.param("double", Decimal(5), 5.0, id="number-5-vs-5.0"),
        pytest.param("currency", "12.50", 12.5, id="number-text"),
        pytest.param("double", Decimal("1E+2"), 100, id="number-exponent"),
        pytest.param(None, Decimal(5), 5.0, id="untyped-number"),
        pytest.param("string", "Acme Corp", "ACME CORP", id="text-case"),
        pytest.param("email", "Ada@Example.com", "ada@example.com", id="email-case"),
        pytest.param("picklist", "beta", "Beta", id="picklist-case"),
        pytest.param("string", "", None, id="empty-text-is-null"),
        pytest.param("multipicklist", "C;A", "a;c", id="multipicklist-order"),
        pytest.param("boolean", None, False, id="checkbox-null-is-false"),
        pytest.param("boolean", "TRUE", True, id="checkbox-text"),
        pytest.param(
            "datetime",
            "2024-01-02T05:04:05.123+02:00",
            "2024-01-02T03:04:05.123+0000",
            id="datetime-offsets",
        ),
        pytest.param("datetime", "2024-01-02T03:04:05", "2024-01-02T03:04:05.000Z", id="naive"),
        pytest.param("date", date(2024, 1, 2), "2024-01-02", id="date"),
        pytest.param("time", "13:30:00.500", "13:30:00.500Z", id="time"),
        pytest.param("reference", ACC15, ACC18, id="reference-15-vs-18"),
        pytest.param("id", ACC15, ACC18[:15] + ACC18[15:].lower(), id="id-suffix-case"),
    ],
)
def test_equal_in_salesforce_means_equal_keys(field_type, left, right):
    assert key_of(left, field_type) == key_of(right, field_type)


@pytest.mark.parametrize(
    ("field_type", "left", "right"),
    [
        pytest.param("reference", ACC15, ACC15.lower(), id="15-char-ids-are-case-sensitive"),
        pytest.param("double", "5", "5.01", id="numbers"),
        pytest.param("string", "5", "5.0", id="text-is-not-a-number"),
        pytest.param(
            "datetime",
            "2024-01-02T03:04:05.123Z",
            "2024-01-02T03:04:05.000Z",
            id="datetime-millis",
        ),
        pytest.param("boolean", True, None, id="checkbox"),
        pytest.param("date", "2024-01-02", "2024-01-03", id="dates"),
    ],
)
def test_different_in_salesforce_means_different_keys(field_type, left, right):
    assert key_of(left, field_type) != key_of(right, field_type)


def test_is_id_is_the_id_type():
    assert key_of(ACC15, is_id=True) == ACC18
    assert key_of(ACC15) == ACC15.lower()


@pytest.mark.parametrize(
    ("key", "field_type", "expected"),
    [
        pytest.param(
            "2024-01-02T03:04:05.123Z",
            "datetime",
            ("2024-01-02T03:04:05.123Z", "2024-01-02T03:04:05.000Z"),
            id="datetime-millis-then-second",
        ),
        pytest.param("2024-01-02T03:04:05.000Z", "datetime", ("2024-01-02T03:04:05.000Z",), id="s"),
        pytest.param(None, "datetime", (None,), id="null"),
        pytest.param("5", "double", ("5",), id="other-types"),
    ],
)
def test_key_variants(key, field_type, expected):
    assert key_variants(key, field_type) == expected


def test_match_key_keeps_nulls_by_position():
    key = match_key([None, Decimal("5.0"), ""], ["string", "double", "textarea"])
    assert key == (None, "5", None)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [(("Acme", "5"),), (("Beta", "7"),)],
            "SELECT Id FROM X WHERE Name IN ('Acme','Beta') AND Amount__c IN (5,7)",
            id="in-lists",
        ),
        pytest.param(
            [(("Acme", None),), (("Beta", "7"),)],
            "SELECT Id FROM X WHERE Name IN ('Acme','Beta') AND (Amount__c IN (7) OR "
            "Amount__c = null)",
            id="null-beside-values",
        ),
        pytest.param(
            [((None, None),)],
            "SELECT Id FROM X WHERE Name = null AND Amount__c = null",
            id="only-null",
        ),
    ],
)
def test_match_query_text(rows, expected):
    clauses = _MatchClauses("SELECT Id FROM X", ["Name", "Amount__c"], ["string", "double"])
    assert list(clauses.chunks(rows)) == [expected]


def test_datetime_variants_are_both_queried():
    clauses = _MatchClauses("SELECT Id FROM X", ["Moment__c"], ["datetime"])
    variants = [("2024-01-02T03:04:05.123Z",), ("2024-01-02T03:04:05.000Z",)]
    [query] = clauses.chunks([variants])
    assert query == (
        "SELECT Id FROM X WHERE Moment__c IN (2024-01-02T03:04:05.123Z,2024-01-02T03:04:05.000Z)"
    )


def test_match_queries_stay_under_the_encoded_limit_and_cover_every_row():
    fields, types = ["Name", "Day__c", "Amount__c"], ["string", "date", "double"]
    clauses = _MatchClauses("SELECT Id, Name FROM X", fields, types)
    rows = [
        ((f"név {i} 'q' & {'x' * (i % 40)}", None if i % 7 == 0 else "2024-01-02", str(i)),)
        for i in range(3000)
    ]
    queries = list(clauses.chunks(rows))
    assert len(queries) > 1
    assert all(len(quote_plus(q)) <= MAX_ENCODED_QUERY for q in queries)
    for [(name, _, amount)] in rows:
        amount_in = re.compile(rf"Amount__c IN \(([^)]*,)?{amount}[,)]")
        assert any(literal(name, "string") in q and amount_in.search(q) for q in queries)


TYPES = ["string", "double", "int", "boolean", "date", "datetime", "time", "reference", "email"]


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), st.sampled_from(TYPES))
def test_literal_is_one_token_whatever_the_value(value, field_type):
    tokens = _tokenize(f"SELECT Id FROM X WHERE F = {literal(value, field_type)}")
    kinds = [t.kind for t in tokens]
    assert kinds[-1] == "eof"
    assert kinds[-3] == "op"
    if kinds[-2] == "string":
        body = unescape_string(tokens[-2].text)
        assert body in (value, key_of(value, field_type))
    else:
        assert tokens[-2].text == key_of(value, field_type) or tokens[-2].text == "null"


def test_datetime_key_is_utc_to_the_millisecond():
    moment = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert key_of(moment, "datetime") == "2024-01-02T03:04:05.678Z"
