"""simple-salesforce 1.12.10, used as its README shows, against ``salesforce-emulator --tls``.

The only glue is the emulator's CA file (``REQUESTS_CA_BUNDLE``, set by the ``emulator`` and
``my_domain`` fixtures of conftest.py). Logins that simple-salesforce sends to
``https://{domain}.salesforce.com`` reach the emulator through the My Domain host mapping of the
``my_domain`` fixture (the stand-in for the CI hosts entry).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceResourceNotFound,
)

from target_salesforce_out.emulator import DEFAULT_CREDENTIALS, Emulator

REST_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000")
CREDS = DEFAULT_CREDENTIALS
# simple-salesforce polls Bulk jobs every `wait` seconds (default 5); the emulator is fast.
WAIT = 0.05


def _instance(emulator: Emulator) -> str:
    return emulator.base_url.removeprefix("https://")


# ---------------------------------------------------------------------------- logins


def _soap_password(host: str, pem: str) -> Salesforce:
    return Salesforce(
        username=CREDS.username,
        password=CREDS.password,
        security_token=CREDS.security_token,
        domain=host.removesuffix(".salesforce.com"),
        version="62.0",
    )


def _oauth_password(host: str, pem: str) -> Salesforce:
    return Salesforce(
        username=CREDS.username,
        password=CREDS.password + CREDS.security_token,
        consumer_key=CREDS.client_id,
        consumer_secret=CREDS.client_secret,
        domain=host.removesuffix(".salesforce.com"),
        version="62.0",
    )


def _client_credentials(host: str, pem: str) -> Salesforce:
    return Salesforce(
        consumer_key=CREDS.client_id,
        consumer_secret=CREDS.client_secret,
        domain=host.removesuffix(".salesforce.com"),
        version="62.0",
    )


def _jwt(host: str, pem: str) -> Salesforce:
    # simple-salesforce posts to https://{instance_url}.salesforce.com with aud
    # https://{domain}.salesforce.com (domain "login"): Salesforce's My Domain token endpoint
    # with the production audience. Its exp claim is a string of digits.
    return Salesforce(
        username=CREDS.username,
        consumer_key=CREDS.client_id,
        privatekey=pem,
        instance_url=host.removesuffix(".salesforce.com"),
        version="62.0",
    )


@pytest.mark.parametrize(
    "login",
    [
        pytest.param(_soap_password, id="soap-username-password-token"),
        pytest.param(_oauth_password, id="oauth-password"),
        pytest.param(_client_credentials, id="client-credentials"),
        pytest.param(_jwt, id="jwt-bearer"),
    ],
)
def test_login_grants_reach_the_instance(
    my_domain: tuple[Emulator, str], jwt_private_pem: str, login: Any
) -> None:
    emulator, host = my_domain
    sf = login(host, jwt_private_pem)
    assert sf.sf_instance == _instance(emulator)
    rows = sf.query("SELECT Username FROM User WHERE Username = 'admin@emulator.test'")
    assert [r["Username"] for r in rows["records"]] == [CREDS.username]


def test_session_id_and_instance_url(sf: Salesforce, emulator: Emulator) -> None:
    assert sf.sf_instance == _instance(emulator)
    assert "DailyApiRequests" in sf.limits()


def test_wrong_password_is_invalid_login(my_domain: tuple[Emulator, str]) -> None:
    _, host = my_domain
    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        Salesforce(
            username=CREDS.username,
            password="wrong",
            security_token=CREDS.security_token,
            domain=host.removesuffix(".salesforce.com"),
        )
    assert failed.value.code == "INVALID_LOGIN"


def test_jwt_with_wrong_key_is_refused(my_domain: tuple[Emulator, str]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _, host = my_domain
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        _jwt(host, other.decode())
    assert failed.value.code == "invalid_grant"


# ---------------------------------------------------------------------------- records


def test_crud_and_upsert(sf: Salesforce) -> None:
    created = sf.Contact.create({"LastName": "Doe", "External_Id__c": "C-1"})
    assert created["success"] is True and created["errors"] == []
    contact_id = created["id"]

    got = sf.Contact.get(contact_id)
    assert got["LastName"] == "Doe"
    assert got["attributes"]["url"] == f"/services/data/v62.0/sobjects/Contact/{contact_id}"
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert REST_DATETIME.fullmatch(got[name]), got[name]

    assert sf.Contact.update(contact_id, {"FirstName": "Jane"}) == 204
    assert sf.Contact.get_by_custom_id("External_Id__c", "C-1")["FirstName"] == "Jane"

    # Upsert by external id: 200 when it updates, 201 when it inserts (v46.0 and later).
    assert sf.Contact.upsert("External_Id__c/C-1", {"LastName": "Roe"}) == 200
    assert sf.Contact.upsert("External_Id__c/C-2", {"LastName": "New"}) == 201
    assert sf.Contact.get_by_custom_id("External_Id__c", "C-1")["LastName"] == "Roe"

    assert sf.Contact.delete(contact_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get(contact_id)


def test_errors_map_to_simple_salesforce_exceptions(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Contact.create({"FirstName": "No last name"})
    assert missing.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceResourceNotFound) as unknown:
        sf.restful("sobjects/Contact/listviews")
    assert unknown.value.content == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_query_all_follows_several_pages(sf: Salesforce, emulator: Emulator) -> None:
    rows = [{"Name": f"Acct {n:04d}", "External_Id__c": f"A-{n}"} for n in range(2600)]
    [result] = sf.bulk2.Account.insert(records=rows, wait=WAIT)
    assert result["numberRecordsProcessed"] == 2600 and result["numberRecordsFailed"] == 0

    found = sf.query_all("SELECT Id, Name FROM Account WHERE External_Id__c LIKE 'A-%'")
    assert found["totalSize"] == 2600 and found["done"] is True
    assert len(found["records"]) == 2600
    assert len({r["Id"] for r in found["records"]}) == 2600
    pages = [r for r in emulator.requests if re.search(r"/query/[^/]+$", r["path"])]
    assert len(pages) == 1  # 2,000 rows on the first page, the rest on the next


def test_collections_and_composite_through_restful(sf: Salesforce) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "Good"},
            {"attributes": {"type": "Account"}},
        ],
    }
    saved = sf.restful("composite/sobjects", method="POST", json=body)
    assert saved[0]["success"] is True
    assert saved[1]["success"] is False
    assert saved[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"

    composite = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v62.0/sobjects/Account",
                    "referenceId": "acct",
                    "body": {"Name": "Composite"},
                }
            ]
        },
    )
    [answer] = composite["compositeResponse"]
    assert answer["httpStatusCode"] == 201
    new_id = answer["body"]["id"]
    assert answer["httpHeaders"] == {"Location": f"/services/data/v62.0/sobjects/Account/{new_id}"}


# ---------------------------------------------------------------------------- Bulk API 2.0


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk2_insert_upsert_delete_with_results(sf: Salesforce) -> None:
    records = [
        {"LastName": "Ok 1", "External_Id__c": "B-1"},
        {"LastName": "", "External_Id__c": "B-2"},  # LastName is required: a failed row
        {"LastName": "Ok 3", "External_Id__c": "B-3"},
    ]
    [inserted] = sf.bulk2.Contact.insert(records=records, wait=WAIT)
    assert inserted["numberRecordsProcessed"] == 3 and inserted["numberRecordsFailed"] == 1
    job_id = inserted["job_id"]
    ok = _csv_rows(sf.bulk2.Contact.get_successful_records(job_id))
    assert sorted(r["External_Id__c"] for r in ok) == ["B-1", "B-3"]
    assert {r["sf__Created"] for r in ok} == {"true"}
    [failed] = _csv_rows(sf.bulk2.Contact.get_failed_records(job_id))
    assert failed["External_Id__c"] == "B-2"
    assert failed["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    assert _csv_rows(sf.bulk2.Contact.get_unprocessed_records(job_id)) == []

    [upserted] = sf.bulk2.Contact.upsert(
        records=[
            {"LastName": "Changed", "External_Id__c": "B-1"},
            {"LastName": "New", "External_Id__c": "B-4"},
        ],
        external_id_field="External_Id__c",
        wait=WAIT,
    )
    created = {
        r["External_Id__c"]: r["sf__Created"]
        for r in _csv_rows(sf.bulk2.Contact.get_successful_records(upserted["job_id"]))
    }
    assert created == {"B-1": "false", "B-4": "true"}

    ids = [r["sf__Id"] for r in ok]
    [deleted] = sf.bulk2.Contact.delete(records=[{"Id": i} for i in ids], wait=WAIT)
    assert deleted["numberRecordsProcessed"] == 2 and deleted["numberRecordsFailed"] == 0
    remaining = sf.query("SELECT External_Id__c FROM Contact WHERE External_Id__c LIKE 'B-%'")
    assert sorted(r["External_Id__c"] for r in remaining["records"]) == ["B-4"]


def test_bulk2_failed_job_leaves_unprocessed_records(sf: Salesforce, emulator: Emulator) -> None:
    emulator.set_faults([{"match": {"path_contains": "/jobs/ingest"}, "fail_job_after_rows": 2}])
    records = [{"LastName": f"Row {n}", "External_Id__c": f"U-{n}"} for n in range(5)]
    with pytest.raises(SalesforceOperationError, match="Job failure"):
        sf.bulk2.Contact.insert(records=records, wait=WAIT)
    jobs = sf.restful("jobs/ingest")["records"]
    [job] = [j for j in jobs if j["state"] == "Failed"]
    unprocessed = _csv_rows(sf.bulk2.Contact.get_unprocessed_records(job["id"]))
    done = _csv_rows(sf.bulk2.Contact.get_successful_records(job["id"]))
    assert len(done) == 2
    assert sorted(r["External_Id__c"] for r in done + unprocessed) == [f"U-{n}" for n in range(5)]
