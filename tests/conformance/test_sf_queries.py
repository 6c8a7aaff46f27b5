"""simple-salesforce 1.12.10 against ``salesforce-emulator --tls``: aggregate SOQL, the
``Organization`` object, ``updated``/``deleted`` replication and SOSL search, each called as the
library's README shows (the ``sf`` fixture of conftest.py; the CA file is the only glue)."""

from __future__ import annotations

import datetime as dt

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from target_salesforce_out.emulator import Emulator


def test_count_queries(sf: Salesforce) -> None:
    for name in ("Acme", "Globex", "Initech"):
        sf.Account.create({"Name": name, "Industry": "Retail" if name != "Initech" else None})
    counted = sf.query("SELECT COUNT() FROM Account WHERE Industry = 'Retail'")
    assert (counted["totalSize"], counted["records"]) == (2, [])
    [row] = sf.query("SELECT COUNT(Id) FROM Account")["records"]
    assert row == {"attributes": {"type": "AggregateResult"}, "expr0": 3}


def test_group_by_with_aliases(sf: Salesforce) -> None:
    for source in ("Web", "Web", "Phone Inquiry"):
        sf.Lead.create({"LastName": "L", "Company": "C", "LeadSource": source})
    rows = sf.query_all("SELECT LeadSource src, COUNT(Id) n FROM Lead GROUP BY LeadSource")
    assert {(r["src"], r["n"]) for r in rows["records"]} == {("Web", 2), ("Phone Inquiry", 1)}


def test_is_sandbox_reads_the_organization(sf: Salesforce, emulator: Emulator) -> None:
    assert sf.is_sandbox() is False
    org = sf.query("SELECT Id, InstanceName FROM Organization")["records"][0]
    assert org["Id"] == emulator.org.org_id
    assert sf.Organization.get(org["Id"])["InstanceName"] == org["InstanceName"]


def test_updated_and_deleted(sf: Salesforce) -> None:
    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    end = start + dt.timedelta(days=1)
    kept = sf.Account.create({"Name": "Kept"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    assert sf.Account.updated(start, end)["ids"] == [kept]
    deleted = sf.Account.deleted(start, end)
    assert [r["id"] for r in deleted["deletedRecords"]] == [gone]
    assert "earliestDateAvailable" in deleted and "latestDateCovered" in deleted
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Account.updated(end, start)
    assert refused.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_search_and_quick_search(sf: Salesforce) -> None:
    acme = sf.Account.create({"Name": "Acme Corp"})["id"]
    sf.Contact.create({"LastName": "Doe", "Email": "jdoe@acme.example.com"})
    found = sf.search("FIND {acme} RETURNING Account(Id, Name)")
    assert found == {
        "searchRecords": [
            {
                "attributes": {
                    "type": "Account",
                    "url": f"/services/data/v62.0/sobjects/Account/{acme}",
                },
                "Id": acme,
                "Name": "Acme Corp",
            }
        ]
    }
    quick = sf.quick_search("acme")
    assert [r["attributes"]["type"] for r in quick["searchRecords"]] == ["Account", "Contact"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.search("FIND {acme OR globex}")
    assert "not supported by the emulator" in refused.value.content[0]["message"]
