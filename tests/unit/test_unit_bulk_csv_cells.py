"""Bulk API 2.0 CSV cells: quoting and values (sinks.bulk_csv), sf__Error (sinks.bulk_results).

Canonical cells (how a row is matched with its echo in a results file) are covered in
tests/target/test_bulk_correlation.py.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from target_salesforce_out.errors import ErrorDetail, UnsendableValueError
from target_salesforce_out.sinks.bulk_csv import NULL_CELL, quote_cell, to_cell
from target_salesforce_out.sinks.bulk_results import parse_sf_error

QUOTING = [
    pytest.param("plain", "plain", id="plain"),
    pytest.param("", "", id="empty"),
    pytest.param("a,b", '"a,b"', id="comma"),
    pytest.param('say "hi"', '"say ""hi"""', id="quotes-doubled"),
    pytest.param("line\nbreak", '"line\nbreak"', id="lf"),
    pytest.param("bare\rreturn", '"bare\rreturn"', id="bare-cr-quoted-unlike-csv-module"),
    pytest.param("crlf\r\n", '"crlf\r\n"', id="crlf"),
    pytest.param(" padded ", " padded ", id="spaces-kept-unquoted"),
    pytest.param("Zoë;東京", "Zoë;東京", id="unicode-and-semicolon"),
    pytest.param("#N/A", "#N/A", id="null-marker-needs-no-quotes"),
]


@pytest.mark.parametrize(("cell", "expected"), QUOTING)
def test_quote_cell(cell, expected):
    assert quote_cell(cell) == expected


@pytest.mark.parametrize(("cell", "expected"), QUOTING)
def test_a_quoted_cell_reads_back_whole(cell, expected):
    line = ",".join([quote_cell("before"), quote_cell(cell), quote_cell("after")]) + "\n"
    [row] = list(csv.reader(io.StringIO(line, newline="")))
    assert row == ["before", cell, "after"]


CELLS = [
    pytest.param(None, NULL_CELL, id="null-is-na"),
    pytest.param("", NULL_CELL, id="empty-text-clears-like-rest"),
    pytest.param(True, "true", id="true"),
    pytest.param(False, "false", id="false"),
    pytest.param(0, "0", id="zero-not-false"),
    pytest.param(12345678901234567890, "12345678901234567890", id="big-int"),
    pytest.param(Decimal("123456789012345678.12"), "123456789012345678.12", id="decimal-digits"),
    pytest.param(Decimal("1E+3"), "1000", id="decimal-exponent-written-out"),
    pytest.param(Decimal("2.50"), "2.50", id="decimal-trailing-zero"),
    pytest.param("2024-01-31T13:45:00.250Z", "2024-01-31T13:45:00.250Z", id="datetime-text"),
    pytest.param("a,b", "a,b", id="text-unquoted-here"),
]


@pytest.mark.parametrize(("value", "expected"), CELLS)
def test_to_cell(value, expected):
    assert to_cell(value, "Col__c") == expected


def test_the_text_na_cannot_be_sent():
    with pytest.raises(UnsendableValueError) as raised:
        to_cell(NULL_CELL, "Notes__c")
    assert raised.value.column == "Notes__c"


# Bulk API 2.0 Developer Guide, "Get Job Failed Record Results": CODE:message:fields --
SF_ERRORS = [
    pytest.param(
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
        ErrorDetail(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ("LastName",)
        ),
        id="one-field",
    ),
    pytest.param(
        "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
        ErrorDetail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"),
        id="no-fields",
    ),
    pytest.param(
        "INVALID_FIELD:Foreign key external ID: A-9 not found for field External_Id__c in "
        "entity Account:--",
        ErrorDetail(
            "INVALID_FIELD",
            "Foreign key external ID: A-9 not found for field External_Id__c in entity Account",
        ),
        id="message-with-colons",
    ),
    pytest.param(
        "FIELD_INTEGRITY_EXCEPTION:bad values:Start__c, End__c --",
        ErrorDetail("FIELD_INTEGRITY_EXCEPTION", "bad values", ("Start__c", "End__c")),
        id="several-fields",
    ),
    pytest.param(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION:Amount too high:Amount__c -- "
        "DUPLICATES_DETECTED:Use one of these records?:--",
        ErrorDetail("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Amount too high", ("Amount__c",)),
        id="first-of-several-errors",
    ),
    pytest.param(
        "  STRING_TOO_LONG:data value too large:Name --  ",
        ErrorDetail("STRING_TOO_LONG", "data value too large", ("Name",)),
        id="surrounding-space",
    ),
    pytest.param(
        "CODE_ONLY:message without fields",
        ErrorDetail("CODE_ONLY", "message without fields"),
        id="no-fields-separator",
    ),
    pytest.param(
        "something went wrong",
        ErrorDetail("something went wrong", "something went wrong"),
        id="no-code-separator",
    ),
    pytest.param("", ErrorDetail("UNKNOWN", ""), id="empty"),
]


@pytest.mark.parametrize(("text", "expected"), SF_ERRORS)
def test_parse_sf_error(text, expected):
    assert parse_sf_error(text) == expected
