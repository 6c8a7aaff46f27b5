"""SOQL text (target_salesforce_out.soql): escaping, IN-clause chunking, paging, id lookups.

tests/target/test_soql_building.py covers literals by field type and the matcher's queries;
this file adds the escape table, the chunk boundaries and the calls that run the queries.
"""

from __future__ import annotations

import itertools
from urllib.parse import quote_plus

import pytest
import requests

from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.soql import MAX_ENCODED_QUERY, find_ids, in_chunks, query_all, quote
from target_salesforce_out.wire import encode_collection

# SOQL and SOSL Reference, "Quoted String Escape Sequences".
ESCAPES = [
    pytest.param("Acme", "'Acme'", id="plain"),
    pytest.param("O'Brien", "'O\\'Brien'", id="single-quote"),
    pytest.param('say "hi"', "'say \\\"hi\\\"'", id="double-quote"),
    pytest.param("C:\\dir", "'C:\\\\dir'", id="backslash"),
    pytest.param("\\'", "'\\\\\\''", id="backslash-then-quote-each-escaped-once"),
    pytest.param("a\nb", "'a\\nb'", id="newline"),
    pytest.param("a\rb", "'a\\rb'", id="carriage-return"),
    pytest.param("a\tb", "'a\\tb'", id="tab"),
    pytest.param("a\bb", "'a\\bb'", id="backspace"),
    pytest.param("a\fb", "'a\\fb'", id="form-feed"),
    pytest.param("50%_off", "'50%_off'", id="like-wildcards-are-plain-outside-like"),
    pytest.param("Zoë 東京", "'Zoë 東京'", id="unicode-as-is"),
    pytest.param("", "''", id="empty"),
    pytest.param("' OR Name != '", "'\\' OR Name != \\''", id="injection-stays-inside"),
]


@pytest.mark.parametrize(("value", "expected"), ESCAPES)
def test_quote(value, expected):
    assert quote(value) == expected


# in_chunks ---------------------------------------------------------------------------------

PREFIX, FIELD = "SELECT Id FROM X", "F"
# URL-encoded length of "SELECT Id FROM X WHERE F IN ()": what every chunk pays.
BASE = len(quote_plus(f"{PREFIX} WHERE {FIELD} IN ()"))
COMMA = len(quote_plus(","))


def _literals_filling(total: int, count: int) -> list[str]:
    """``count`` bare literals whose chunk is exactly ``total`` encoded characters."""
    room = total - BASE - COMMA * (count - 1)
    sizes = [room // count] * count
    sizes[-1] += room - sum(sizes)
    return ["9" * size for size in sizes]


def _chunks(literals, suffix=""):
    return list(in_chunks(PREFIX, FIELD, literals, suffix))


def test_no_values_no_query():
    assert _chunks([]) == []


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        pytest.param("", "SELECT Id FROM X WHERE F IN ('a','b')", id="no-suffix"),
        pytest.param(
            "ORDER BY Id", "SELECT Id FROM X WHERE F IN ('a','b') ORDER BY Id", id="suffix"
        ),
    ],
)
def test_query_text(suffix, expected):
    assert _chunks(["'a'", "'b'"], suffix) == [(expected, 0, 2)]


def test_a_chunk_of_exactly_the_limit_is_one_query():
    literals = _literals_filling(MAX_ENCODED_QUERY, 50)
    [(soql, start, end)] = _chunks(literals)
    assert (start, end) == (0, 50)
    assert len(quote_plus(soql)) == MAX_ENCODED_QUERY


def test_one_character_over_the_limit_moves_the_last_value_to_a_second_query():
    literals = _literals_filling(MAX_ENCODED_QUERY + 1, 50)
    chunks = _chunks(literals)
    assert [(start, end) for _, start, end in chunks] == [(0, 49), (49, 50)]
    assert all(len(quote_plus(soql)) <= MAX_ENCODED_QUERY for soql, _, _ in chunks)


def test_the_limit_counts_url_encoded_characters():
    # "é" is 6 characters once encoded (%C3%A9), a quote 3 (%27): 10 a literal, not 3.
    literal = "'é'"
    per_value = len(quote_plus(literal)) + COMMA
    fit = (MAX_ENCODED_QUERY - BASE + COMMA) // per_value
    chunks = _chunks([literal] * (fit + 1))
    assert [(start, end) for _, start, end in chunks] == [(0, fit), (fit, fit + 1)]


def test_a_value_longer_than_the_limit_gets_a_query_of_its_own():
    huge = "'" + "x" * MAX_ENCODED_QUERY + "'"
    chunks = _chunks(["'a'", huge, "'b'"])
    assert [(start, end) for _, start, end in chunks] == [(0, 1), (1, 2), (2, 3)]


def test_chunks_cover_every_value_once_in_order():
    literals = [f"'value-{i:05d}'" for i in range(5000)]
    chunks = _chunks(literals)
    assert len(chunks) > 1
    assert chunks[0][1] == 0
    assert chunks[-1][2] == len(literals)
    for (_, _, end), (_, start, _) in itertools.pairwise(chunks):
        assert end == start
    for soql, start, end in chunks:
        assert soql == f"{PREFIX} WHERE {FIELD} IN ({','.join(literals[start:end])})"
        assert len(quote_plus(soql)) <= MAX_ENCODED_QUERY


# Queries against the emulator ---------------------------------------------------------------


class _Login:
    """Tokens from the emulator's Python API (the OAuth flows are tested elsewhere)."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator

    def session(self):
        return _Session(self.emulator.access_token(), self.emulator.base_url)

    def refresh(self, stale_token: str):
        return self.session()


class _Session:
    def __init__(self, access_token: str, instance_url: str) -> None:
        self.access_token = access_token
        self.instance_url = instance_url


def _client(emulator) -> SalesforceClient:
    return SalesforceClient(_Login(emulator), requests.Session(), api_version="62.0")


def _create_accounts(client: SalesforceClient, names: list[str]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(names), 200):
        records = [{"Name": name} for name in names[start : start + 200]]
        body = encode_collection("Account", records)
        results = client.request("POST", "/composite/sobjects", body=body, idempotent=False)
        ids += [r["id"] for r in results.json()]
    return ids


def test_query_all_follows_next_records_url_to_the_last_page(salesforce_emulator):
    client = _client(salesforce_emulator)
    names = [f"Paged {i:04d}" for i in range(2300)]
    _create_accounts(client, names)
    rows = query_all(client, "SELECT Id, Name FROM Account WHERE Name LIKE 'Paged %'")
    assert sorted(r["Name"] for r in rows) == names
    pages = [r for r in salesforce_emulator.requests if "/query" in r["path"]]
    assert len(pages) == 2


def test_find_ids_maps_each_canonical_key_to_its_records(salesforce_emulator):
    client = _client(salesforce_emulator)
    acme, _, twin = _create_accounts(client, ["Acme Corp", "Other", "ACME CORP"])
    found = find_ids(client, "Account", "name", ["acme corp", "Missing", None, ""], "string")
    # Text compares without case, as SOQL's "=" does; the field name's case does not matter.
    assert found == {"acme corp": [acme, twin]}


def test_find_ids_by_id_takes_15_character_ids(salesforce_emulator):
    client = _client(salesforce_emulator)
    [record_id] = _create_accounts(client, ["Fifteen"])
    found = find_ids(client, "Account", "Id", [record_id[:15]])
    assert found == {record_id: [record_id]}
