"""Salesforce record ids (target_salesforce_out.ids): the 15/18-character checksum and shape checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from target_salesforce_out.ids import checksum_suffix, id_problem, to18

# 15-character ids and their 18-character forms: documentation examples and ids of real orgs.
VECTORS = [
    pytest.param("00558000001N0Ke", "00558000001N0KeAAK", id="user"),
    pytest.param("001D000000IRFma", "001D000000IRFmaIAH", id="account-rest-guide"),
    pytest.param("003D000000QV9n2", "003D000000QV9n2IAD", id="contact"),
    pytest.param("a02D0000006YUHr", "a02D0000006YUHrIAO", id="custom-object"),
    pytest.param("0015500001QdQWa", "0015500001QdQWaAAN", id="real-org-1"),
    pytest.param("0015500001QdQWf", "0015500001QdQWfAAN", id="real-org-2"),
    pytest.param("0035500001H9cal", "0035500001H9calAAB", id="real-org-contact"),
    pytest.param("012000000000000", "012000000000000AAA", id="master-record-type"),
    pytest.param("ABCDEABCDEABCDE", "ABCDEABCDEABCDE555", id="all-upper-case"),
    pytest.param("abcdeabcdeabcde", "abcdeabcdeabcdeAAA", id="all-lower-case"),
]


@pytest.mark.parametrize(("id15", "id18"), VECTORS)
def test_checksum_suffix(id15, id18):
    assert checksum_suffix(id15) == id18[15:]


@pytest.mark.parametrize(("id15", "id18"), VECTORS)
def test_to18_from_either_form(id15, id18):
    assert to18(id15) == id18
    assert to18(id18) == id18


@pytest.mark.parametrize(("id15", "id18"), VECTORS)
def test_valid_ids_have_no_problem(id15, id18):
    assert id_problem(id15) is None
    assert id_problem(id18) is None


def test_the_suffix_is_read_without_case():
    assert id_problem("001D000000IRFmaiah") is None
    assert to18("001D000000IRFmaiah") == "001D000000IRFmaIAH"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param("", "must be 15 or 18", id="empty"),
        pytest.param("001D000000IRFm", "must be 15 or 18", id="14-characters"),
        pytest.param("001D000000IRFmaI", "must be 15 or 18", id="16-characters"),
        pytest.param("001D000000IRFmaIAHX", "must be 15 or 18", id="19-characters"),
        pytest.param("001D000000IRF-a", "must be 15 or 18", id="punctuation"),
        pytest.param("001D000000IRFm ", "must be 15 or 18", id="trailing-space"),
        pytest.param("001D000000IRFmé", "must be 15 or 18", id="non-ascii-letter"),
        pytest.param("001D000000IRFmaAAA", "not the checksum", id="wrong-suffix"),
        pytest.param("001d000000IRFmaIAH", "not the checksum", id="case-changed-in-first-15"),
    ],
)
def test_id_problem(value, problem):
    assert problem in (id_problem(value) or "")


@given(
    st.text(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=15, max_size=15
    )
)
def test_the_suffix_tells_apart_ids_that_differ_only_in_case(id15):
    swapped = id15.swapcase()
    if swapped != id15:
        assert to18(swapped).lower() != to18(id15).lower()
    assert id_problem(to18(id15)) is None
