"""HTTP details common clients expect: HEAD, ``Location`` on 201, a clear ``NOT_FOUND``, the two
spellings of the unprocessed-records path, a JWT ``exp`` given as digits, and audit timestamps."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from emu_client import Client, V

from target_salesforce_out.emulator import Emulator

NOT_FOUND_BODY = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
# Headers whose values differ between two calls by design.
VOLATILE = {"Date", "Sforce-Limit-Info"}


@pytest.fixture
def client(salesforce_emulator: Emulator) -> Iterator[Client]:
    c = Client(salesforce_emulator)
    yield c
    c.close()


# ---------------------------------------------------------------------------- HEAD


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/sobjects/Account/describe", id="describe"),
        pytest.param("/sobjects/Account/{id}", id="record"),
        pytest.param("/sobjects/Account/001000000000000AAA", id="missing-record"),
        pytest.param("/query?q=SELECT+Id+FROM+Account", id="query"),
        pytest.param("/limits", id="limits"),
        pytest.param("/nothing/here", id="unknown-path"),
    ],
)
def test_head_answers_as_get_without_a_body(client: Client, path: str) -> None:
    record_id = client.create("Account", Name="Acme")
    url = path.format(id=record_id)
    got = client.get(url)
    head = client.request("HEAD", url)
    assert head.status_code == got.status_code
    assert head.content == b""
    same = {k: v for k, v in head.headers.items() if k not in VOLATILE}
    assert same == {k: v for k, v in got.headers.items() if k not in VOLATILE}
    assert head.headers["Content-Length"] == str(len(got.content))
    assert client.emulator.requests[-1]["method"] == "HEAD"


# ---------------------------------------------------------------------------- Location


def test_create_answers_201_with_location(client: Client) -> None:
    answer = client.post("/sobjects/account/", json={"Name": "Acme"})
    assert answer.status_code == 201
    new_id = answer.json()["id"]
    assert answer.headers["Location"] == f"{V}/sobjects/Account/{new_id}"


def test_upsert_location_only_when_it_creates(client: Client) -> None:
    created = client.patch("/sobjects/Contact/External_Id__c/L-1", json={"LastName": "Doe"})
    assert created.status_code == 201
    assert created.headers["Location"] == f"{V}/sobjects/Contact/{created.json()['id']}"
    updated = client.patch("/sobjects/Contact/External_Id__c/L-1", json={"LastName": "Roe"})
    assert updated.status_code == 200
    assert "Location" not in updated.headers


def test_composite_upsert_subrequest_location_names_the_record(client: Client) -> None:
    answer = client.post(
        "/composite",
        json={
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"{V}/sobjects/Contact/External_Id__c/L-2",
                    "referenceId": "c",
                    "body": {"LastName": "Doe"},
                }
            ]
        },
    )
    [sub] = answer.json()["compositeResponse"]
    assert sub["httpStatusCode"] == 201
    assert sub["httpHeaders"] == {"Location": f"{V}/sobjects/Contact/{sub['body']['id']}"}


# ---------------------------------------------------------------------------- NOT_FOUND


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/sobjects/Account/listviews", id="list-views"),
        pytest.param("GET", "/sobjects/Account/quickActions", id="quick-actions"),
        pytest.param("GET", "/sobjects/Account/{id}/Contacts", id="relationship"),
        pytest.param("GET", "/sobjects/Account/describe/layouts", id="layouts"),
        pytest.param("GET", "/tooling/query?q=SELECT+Id+FROM+ApexClass", id="tooling"),
        pytest.param("POST", "/composite/tree/Account", id="sobject-tree"),
        pytest.param("GET", "/recent", id="recent"),
    ],
)
def test_unsupported_resources_are_not_found(client: Client, method: str, path: str) -> None:
    record_id = client.create("Account", Name="Acme")
    answer = client.request(method, path.format(id=record_id), json={})
    assert answer.status_code == 404
    assert answer.json() == NOT_FOUND_BODY


def test_unknown_external_id_field_keeps_its_own_message(client: Client) -> None:
    answer = client.patch("/sobjects/Account/Nope__c/1", json={"Name": "x"})
    assert answer.status_code == 404
    assert answer.json() == [
        {
            "message": "Provided external ID field does not exist or is not accessible: Nope__c",
            "errorCode": "NOT_FOUND",
        }
    ]


def test_paths_outside_the_api_are_not_found(salesforce_emulator: Emulator) -> None:
    answer = requests.get(f"{salesforce_emulator.base_url}/services/apexrest/Thing", timeout=10)
    assert answer.status_code == 404
    assert answer.json() == NOT_FOUND_BODY


# ---------------------------------------------------------------------------- Bulk results


def test_unprocessed_records_answers_both_spellings(
    client: Client, salesforce_emulator: Emulator
) -> None:
    salesforce_emulator.set_faults(
        [{"match": {"path_contains": "/jobs/ingest"}, "fail_job_after_rows": 1}]
    )
    job = client.post("/jobs/ingest", json={"object": "Contact", "operation": "insert"}).json()
    client.request(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=b"LastName\nA\nB\nC\n",
        headers={"Content-Type": "text/csv"},
    )
    client.patch(f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    for _ in range(500):
        if client.get(f"/jobs/ingest/{job['id']}").json()["state"] == "Failed":
            break
        time.sleep(0.01)
    bodies = {
        spelling: client.get(f"/jobs/ingest/{job['id']}/{spelling}")
        for spelling in ("unprocessedrecords", "unprocessedRecords", "unprocessedRecords/")
    }
    assert {s: a.status_code for s, a in bodies.items()} == dict.fromkeys(bodies, 200)
    assert {a.text for a in bodies.values()} == {'LastName\n"B"\n"C"\n'}


# ---------------------------------------------------------------------------- JWT exp


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwt_login(emulator: Emulator, key: rsa.RSAPrivateKey, exp: object) -> requests.Response:
    claims = {
        "iss": "emulator-client",
        "sub": "admin@emulator.test",
        "aud": "https://login.salesforce.com",
        "exp": exp,
    }
    return requests.post(
        f"{emulator.base_url}/services/oauth2/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt.encode(claims, key, algorithm="RS256"),
        },
        timeout=10,
    )


@pytest.mark.parametrize(
    ("exp", "accepted"),
    [
        pytest.param(lambda now: now + 180, True, id="integer"),
        pytest.param(lambda now: f"{now + 180:.0f}", True, id="digits-string"),
        pytest.param(lambda now: now + 180.5, True, id="float"),
        pytest.param(lambda now: f"{now - 10:.0f}", False, id="expired-digits-string"),
        pytest.param(lambda now: "soon", False, id="words"),
        pytest.param(lambda now: f"{now + 180:.1f}", False, id="decimal-string"),
        pytest.param(lambda now: "", False, id="empty-string"),
        pytest.param(lambda now: True, False, id="boolean"),
        pytest.param(lambda now: None, False, id="null"),
    ],
)
def test_jwt_exp_forms(
    salesforce_emulator: Emulator, signing_key: rsa.RSAPrivateKey, exp, accepted: bool
) -> None:
    answer = _jwt_login(salesforce_emulator, signing_key, exp(int(time.time())))
    if accepted:
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "invalid_grant",
            "error_description": "expired authorization code",
        }


# ---------------------------------------------------------------------------- timestamps


AUDIT = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
# REST API JSON: UTC, whole seconds, offset without a colon (2024-01-31T13:45:00.000+0000).
REST_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000")


def test_audit_timestamps_in_rest_json(client: Client) -> None:
    record_id = client.create("Account", Name="Acme")
    client.patch(f"/sobjects/Account/{record_id}", json={"Name": "Acme 2"})
    got = client.get(f"/sobjects/Account/{record_id}").json()
    rows = client.get(
        "/query", params={"q": f"SELECT {', '.join(AUDIT)} FROM Account WHERE Id = '{record_id}'"}
    ).json()["records"]
    for record in (got, rows[0]):
        for name in AUDIT:
            assert REST_STAMP.fullmatch(record[name]), (name, record[name])
