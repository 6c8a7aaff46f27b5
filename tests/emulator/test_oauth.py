"""OAuth token endpoint, revocation and token hooks (Salesforce Help, the OAuth 2.0 flow pages)."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emu_client import Client

from target_salesforce_out.emulator import Emulator

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def jwt_emulator(salesforce_emulator_factory, rsa_keys) -> Emulator:
    return salesforce_emulator_factory(jwt_public_key=rsa_keys[1])


def token(emulator: Emulator, **form: str) -> requests.Response:
    return requests.post(f"{emulator.base_url}/services/oauth2/token", data=form, timeout=10)


def assertion(private: bytes, **overrides: object) -> str:
    claims: dict[str, object] = {
        "iss": "emulator-client",
        "sub": "admin@emulator.test",
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    return jwt.encode(claims, private, algorithm="RS256")


REFRESH = {
    "grant_type": "refresh_token",
    "client_id": "emulator-client",
    "client_secret": "emulator-secret",
    "refresh_token": "emulator-refresh-token",
}


def test_refresh_token_success_fields(salesforce_emulator: Emulator) -> None:
    response = token(salesforce_emulator, **REFRESH)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = response.json()
    assert list(body) == [
        "access_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    ]
    org_id = salesforce_emulator.org.org_id
    assert re.fullmatch(rf"{org_id[:15]}![A-Za-z0-9._]+", body["access_token"])
    assert body["instance_url"] == salesforce_emulator.base_url
    user_id = salesforce_emulator.org.admin_user_id
    assert body["id"] == f"{salesforce_emulator.base_url}/id/{org_id}/{user_id}"
    assert body["token_type"] == "Bearer"
    assert body["issued_at"].isdigit() and len(body["issued_at"]) == 13
    assert base64.b64decode(body["signature"])
    assert "refresh_token" not in body


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        ({"client_id": "nope"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "nope"}, "invalid_client", "invalid client credentials"),
        ({"refresh_token": "nope"}, "invalid_grant", "expired access/refresh token"),
        (
            {"grant_type": "authorization_codex"},
            "unsupported_grant_type",
            "grant type not supported",
        ),
    ],
)
def test_refresh_token_errors(salesforce_emulator, change, error, description) -> None:
    response = token(salesforce_emulator, **{**REFRESH, **change})
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_password_grant_needs_security_token(salesforce_emulator: Emulator) -> None:
    form = {
        "grant_type": "password",
        "client_id": "emulator-client",
        "client_secret": "emulator-secret",
        "username": "admin@emulator.test",
        "password": "emulator-passwordemulator-token",
    }
    assert token(salesforce_emulator, **form).status_code == 200
    bad = token(salesforce_emulator, **{**form, "password": "emulator-password"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_client_credentials_basic_and_body(salesforce_emulator: Emulator) -> None:
    url = f"{salesforce_emulator.base_url}/services/oauth2/token"
    basic = requests.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=("emulator-client", "emulator-secret"),
        timeout=10,
    )
    assert basic.status_code == 200 and "access_token" in basic.json()
    body = token(
        salesforce_emulator,
        grant_type="client_credentials",
        client_id="emulator-client",
        client_secret="emulator-secret",
    )
    assert body.status_code == 200
    wrong = requests.post(
        url, data={"grant_type": "client_credentials"}, auth=("emulator-client", "x"), timeout=10
    )
    assert wrong.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


def test_jwt_login_describe_upsert_transcript(jwt_emulator: Emulator, rsa_keys) -> None:
    """JWT login, describe, then a Collections upsert with one failure, byte shapes included."""
    response = token(jwt_emulator, grant_type=JWT_GRANT, assertion=assertion(rsa_keys[0]))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = response.json()
    assert list(body) == ["access_token", "scope", "instance_url", "id", "token_type"]
    assert body["scope"] == "api" and body["token_type"] == "Bearer"
    assert body["instance_url"] == jwt_emulator.base_url
    assert response.text.startswith('{"access_token":"')  # compact JSON
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    base = f"{body['instance_url']}/services/data/v62.0"
    with requests.Session() as session:
        session.headers.update(headers)
        session.post(f"{base}/sobjects/Account", json={"Name": "Acme", "External_Id__c": "A-1"})
        describe = session.get(f"{base}/sobjects/Contact/describe")
        assert describe.status_code == 200
        assert describe.headers["Content-Type"] == "application/json;charset=UTF-8"
        used = int(describe.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
        assert describe.headers["Sforce-Limit-Info"] == f"api-usage={used}/15000"
        assert describe.text.startswith('{"actionOverrides":[],"activateable":false,')
        upsert = session.patch(
            f"{base}/composite/sobjects/Contact/External_Id__c",
            data=(
                '{"allOrNone":false,"records":[\n'
                ' {"attributes":{"type":"Contact"},"External_Id__c":"C-1","LastName":"Doe",'
                '"Account":{"External_Id__c":"A-1"}},\n'
                ' {"attributes":{"type":"Contact"},"External_Id__c":"C-2","LastName":null},\n'
                ' {"attributes":{"type":"Contact"},"External_Id__c":"C-3","LastName":"Roe",'
                '"Loyalty_Tier__c":"Platinum"}\n]}'
            ),
            headers={"Content-Type": "application/json"},
        )
    assert upsert.status_code == 200
    assert upsert.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert upsert.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/15000"
    results = upsert.json()
    new_id = results[0]["id"]
    assert re.fullmatch(r"003[0-9A-Za-z]{12}[A-Z0-5]{3}", new_id)
    assert upsert.text == (
        f'[{{"id":"{new_id}","success":true,"errors":[],"created":true}},'
        '{"success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING",'
        '"message":"Required fields are missing: [LastName]","fields":["LastName"]}]},'
        '{"success":false,"errors":[{"statusCode":"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",'
        '"message":"Loyalty Tier: bad value for restricted picklist field: Platinum",'
        '"fields":["Loyalty_Tier__c"]}]}]'
    )
    contact = jwt_emulator.records("Contact")[0]
    account = jwt_emulator.records("Account")[0]
    assert contact["AccountId"] == account["Id"]


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"aud": "https://acme.my.salesforce.com"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(time.time()) - 10}, "invalid_grant", "expired authorization code"),
        ({"iss": "someone-else"}, "invalid_client_id", "client identifier invalid"),
        ({"sub": "ghost@emulator.test"}, "invalid_grant", "user hasn't approved this consumer"),
    ],
)
def test_jwt_claim_errors(jwt_emulator, rsa_keys, overrides, error, description) -> None:
    response = token(
        jwt_emulator, grant_type=JWT_GRANT, assertion=assertion(rsa_keys[0], **overrides)
    )
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_jwt_sandbox_audience_accepted(jwt_emulator, rsa_keys) -> None:
    a = assertion(rsa_keys[0], aud="https://test.salesforce.com")
    assert token(jwt_emulator, grant_type=JWT_GRANT, assertion=a).status_code == 200


def test_jwt_bad_signature_is_invalid_assertion(jwt_emulator) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for bad in (assertion(pem), "not-a-jwt"):
        response = token(jwt_emulator, grant_type=JWT_GRANT, assertion=bad)
        assert response.json() == {
            "error": "invalid_grant",
            "error_description": "invalid assertion",
        }


@pytest.fixture
def client(salesforce_emulator: Emulator) -> Iterator[Client]:
    c = Client(salesforce_emulator)
    yield c
    c.close()


def test_invalid_token_gets_401(client: Client) -> None:
    response = client.get("/limits", headers={"Authorization": "Bearer 00Dxx!bogus"})
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert "Sforce-Limit-Info" not in response.headers
    assert client.get("/limits", headers={"Authorization": ""}).status_code == 401


def test_revoke_access_token(client: Client) -> None:
    url = f"{client.base}/services/oauth2/revoke"
    response = requests.post(url, data={"token": client.token}, timeout=10)
    assert response.status_code == 200 and response.content == b""
    assert client.get("/limits").status_code == 401
    again = requests.post(url, data={"token": client.token}, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


def test_revoke_refresh_token_kills_refresh_and_its_sessions(client: Client) -> None:
    url = f"{client.base}/services/oauth2/revoke"
    assert (
        requests.post(url, data={"token": "emulator-refresh-token"}, timeout=10).status_code == 200
    )
    assert client.get("/limits").status_code == 401
    response = token(client.emulator, **REFRESH)
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }


def test_token_ttl_calls(salesforce_emulator_factory) -> None:
    emulator = salesforce_emulator_factory(token_ttl_calls=2)
    c = Client(emulator)
    try:
        assert c.get("/limits").status_code == 200
        assert c.get("/limits").status_code == 200
        third = c.get("/limits")
        assert third.status_code == 401
        assert third.json()[0]["errorCode"] == "INVALID_SESSION_ID"
        fresh = Client(emulator)  # refresh -> replay works
        assert fresh.get("/limits").status_code == 200
        fresh.close()
    finally:
        c.close()


def test_expire_and_revoke_hooks(client: Client) -> None:
    client.emulator.expire_all_tokens()
    assert client.get("/limits").status_code == 401
    assert token(client.emulator, **REFRESH).status_code == 200
    client.emulator.revoke_all_tokens()
    assert token(client.emulator, **REFRESH).json()["error"] == "invalid_grant"
    client.emulator.reset()  # reset restores the demo refresh token
    assert token(client.emulator, **REFRESH).status_code == 200


def test_oauth_calls_are_not_counted(salesforce_emulator: Emulator) -> None:
    token(salesforce_emulator, **REFRESH)
    token(salesforce_emulator, **{**REFRESH, "client_id": "x"})
    assert salesforce_emulator.api_usage == 0
    assert [r["counted"] for r in salesforce_emulator.requests] == [False, False]
