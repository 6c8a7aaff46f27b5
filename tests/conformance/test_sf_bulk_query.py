"""simple-salesforce 1.12.10 Bulk API 2.0 queries against ``salesforce-emulator --tls``:
``sf.bulk2.<Object>.query`` / ``query_all`` / ``download`` follow ``Sforce-Locator`` across
result sets until the literal ``null``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

# simple-salesforce sleeps `wait` seconds before polling (default 5); the emulator is fast.
WAIT = 0.05


def _rows(chunks: list[str]) -> list[dict[str, str]]:
    return [row for chunk in chunks for row in csv.DictReader(io.StringIO(chunk))]


def _seed(sf: Salesforce, count: int) -> list[str]:
    rows = [{"Name": f"A{i:02d}", "NumberOfEmployees": i} for i in range(count)]
    [result] = sf.bulk2.Account.insert(records=rows, wait=WAIT)
    assert result["numberRecordsProcessed"] == count
    return [r["Name"] for r in rows]


def test_query_pages_with_max_records(sf: Salesforce) -> None:
    names = _seed(sf, 7)
    chunks = list(
        sf.bulk2.Account.query(
            "SELECT Name, NumberOfEmployees FROM Account ORDER BY Name", max_records=3, wait=WAIT
        )
    )
    assert len(chunks) == 3
    rows = _rows([str(c) for c in chunks])
    assert [r["Name"] for r in rows] == names
    assert rows[2]["NumberOfEmployees"] == "2"


def test_query_all_includes_deleted_and_parent_fields(sf: Salesforce) -> None:
    parent = sf.Account.create({"Name": "Parent"})["id"]
    child = sf.Contact.create({"LastName": "Child", "AccountId": parent})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(gone)
    query = "SELECT Id, LastName, Account.Name, IsDeleted FROM Contact ORDER BY LastName"
    live = _rows([str(c) for c in sf.bulk2.Contact.query(query, wait=WAIT)])
    assert live == [
        {"Id": child, "LastName": "Child", "Account.Name": "Parent", "IsDeleted": "false"}
    ]
    every = _rows([str(c) for c in sf.bulk2.Contact.query_all(query, wait=WAIT)])
    assert [(r["LastName"], r["IsDeleted"]) for r in every] == [
        ("Child", "false"),
        ("Gone", "true"),
    ]


def test_download_writes_one_file_per_set(sf: Salesforce, tmp_path: Path) -> None:
    _seed(sf, 5)
    results = sf.bulk2.Account.download(
        "SELECT Name FROM Account", path=str(tmp_path), max_records=2, wait=WAIT
    )
    assert [r["number_of_records"] for r in results] == [2, 2, 1]
    assert results[-1]["locator"] == ""
    names = _rows([Path(str(r["file"])).read_text() for r in results])
    assert len(names) == 5


def test_unsupported_soql_is_refused_at_create(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as refused:
        list(sf.bulk2.Account.query("SELECT COUNT() FROM Account", wait=WAIT))
    assert refused.value.content[0]["errorCode"] == "API_ERROR"
