"""Every OAuth flow and login host form, against the emulator's token endpoint."""

from __future__ import annotations

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import CONTACT_PROPS, CONTACT_STREAM, contacts, run_target, schema

from target_salesforce_out.errors import ConfigError
from target_salesforce_out.login_hosts import (
    LOGIN_HOST,
    SANDBOX_HOST,
    jwt_audience,
    resolve_login_url,
)

USER = "admin@emulator.test"


@pytest.fixture(scope="module")
def rsa_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _load(emulator, tmp_path, credentials):
    config = {
        "domain": emulator.base_url,
        **credentials,
        "streams": {"contacts": CONTACT_STREAM},
        "report_path": str(tmp_path / "report.json"),
    }
    return run_target(
        config, [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(2)], tmp_path
    )


@pytest.mark.parametrize(
    "credentials",
    [
        {
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
        },
        {
            "auth_flow": "password",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "username": USER,
            "password": "emulator-password",
            "security_token": "emulator-token",
        },
        {
            "auth_flow": "client_credentials",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        },
    ],
    ids=["refresh_token", "password", "client_credentials"],
)
def test_flow_loads_records(credentials, salesforce_emulator, tmp_path):
    run = _load(salesforce_emulator, tmp_path, credentials)
    assert run.returncode == 0, run.stderr
    assert len(salesforce_emulator.records("Contact")) == 2
    token_calls = [r for r in salesforce_emulator.requests if r["path"] == "/services/oauth2/token"]
    assert len(token_calls) == 1


def test_jwt_bearer_with_key_text_and_key_file(rsa_key, salesforce_emulator_factory, tmp_path):
    private, public = rsa_key
    emulator = salesforce_emulator_factory(jwt_public_key=public)
    run = _load(
        emulator,
        tmp_path,
        {"client_id": "emulator-client", "username": USER, "private_key": private},
    )
    assert run.returncode == 0, run.stderr
    key_file = tmp_path / "server.key"
    key_file.write_text(private)
    run = _load(
        emulator,
        tmp_path,
        {"client_id": "emulator-client", "username": USER, "private_key_file": str(key_file)},
    )
    assert run.returncode == 0, run.stderr
    assert len(emulator.records("Contact")) == 2
    assert private.splitlines()[1] not in run.stderr


def test_jwt_with_a_key_the_org_does_not_trust(rsa_key, salesforce_emulator_factory, tmp_path):
    _, public = rsa_key
    other = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    emulator = salesforce_emulator_factory(jwt_public_key=public)
    run = _load(
        emulator, tmp_path, {"client_id": "emulator-client", "username": USER, "private_key": other}
    )
    assert run.returncode == 2  # a login error
    assert "Salesforce login failed: invalid_grant: invalid assertion" in run.stderr


def test_access_token_flow(salesforce_emulator, tmp_path):
    token = requests.post(
        salesforce_emulator.base_url + "/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
        },
        timeout=10,
    ).json()
    run = _load(
        salesforce_emulator,
        tmp_path,
        {"access_token": token["access_token"], "instance_url": token["instance_url"]},
    )
    assert run.returncode == 0, run.stderr
    assert len(salesforce_emulator.records("Contact")) == 2


def test_revoked_refresh_token_explains_the_five_approval_limit(salesforce_emulator, tmp_path):
    run = _load(
        salesforce_emulator,
        tmp_path,
        {
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
            "refresh_token": "revoked-or-unknown",
        },
    )
    assert run.returncode == 2  # a login error
    assert "invalid_grant: expired access/refresh token" in run.stderr
    assert "at most 5 approvals" in run.stderr
    assert "jwt_bearer or" in run.stderr and "client_credentials" in run.stderr
    assert "revoked-or-unknown" not in run.stderr


def test_wrong_client_id(salesforce_emulator, tmp_path):
    run = _load(
        salesforce_emulator,
        tmp_path,
        {
            "client_id": "nope",
            "client_secret": "emulator-secret",
            "refresh_token": "emulator-refresh-token",
        },
    )
    assert run.returncode == 2  # a login error
    assert "invalid_client_id: client identifier invalid" in run.stderr


@pytest.mark.parametrize(
    ("domain", "sandbox", "expected"),
    [
        (None, None, LOGIN_HOST),
        ("login", None, LOGIN_HOST),
        (None, True, SANDBOX_HOST),
        ("test", None, SANDBOX_HOST),
        ("acme.my.salesforce.com", None, "https://acme.my.salesforce.com"),
        (
            "acme--uat.sandbox.my.salesforce.com",
            True,
            "https://acme--uat.sandbox.my.salesforce.com",
        ),
        ("https://acme.my.salesforce.com/", None, "https://acme.my.salesforce.com"),
        ("http://127.0.0.1:8085", None, "http://127.0.0.1:8085"),
        ("http://localhost:9", None, "http://localhost:9"),
        ("http://[::1]:8085", None, "http://[::1]:8085"),
    ],
)
def test_login_host_resolution(domain, sandbox, expected):
    assert resolve_login_url(domain, sandbox) == expected


def test_plain_http_is_refused_for_remote_hosts():
    with pytest.raises(ConfigError, match="loopback"):
        resolve_login_url("http://acme.my.salesforce.com", None)


def test_jwt_audience_is_the_generic_login_host():
    assert jwt_audience("https://acme.my.salesforce.com") == LOGIN_HOST
    assert jwt_audience(SANDBOX_HOST) == SANDBOX_HOST
    assert jwt_audience("https://acme--uat.sandbox.my.salesforce.com") == SANDBOX_HOST
