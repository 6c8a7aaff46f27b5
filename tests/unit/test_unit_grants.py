"""The OAuth grant registry (target_salesforce_out.grants), one grant at a time.

Each grant's required settings, which grant the credentials given mean, the fields of each
token request, and that no secret value reaches a message. No network: the token endpoint is
exercised end to end in tests/target/test_target_auth.py.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import SECRET_KEYS

from target_salesforce_out.auth import login_hint
from target_salesforce_out.config_checks import config_problems, cross_setting_problems
from target_salesforce_out.errors import ConfigError
from target_salesforce_out.grants import (
    AUTH_FLOWS,
    GRANTS,
    JWT_GRANT,
    SECRET_SETTINGS,
    GivenToken,
    TokenRequest,
    grant_for,
)
from target_salesforce_out.login_hosts import LOGIN_HOST, SANDBOX_HOST
from target_salesforce_out.settings import CONFIG_SCHEMA

MY_DOMAIN = "https://acme.my.salesforce.com"

# A complete config per flow (every value distinctive, so a leak is easy to spot).
COMPLETE: dict[str, dict[str, Any]] = {
    "refresh_token": {
        "client_id": "cid-SECRET-1",
        "client_secret": "csecret-SECRET-2",
        "refresh_token": "rtoken-SECRET-3",
    },
    "jwt_bearer": {
        "client_id": "cid-SECRET-1",
        "username": "loader@acme.test",
        "private_key": "pem-SECRET-4",
    },
    "client_credentials": {
        "domain": "acme.my.salesforce.com",
        "client_id": "cid-SECRET-1",
        "client_secret": "csecret-SECRET-2",
    },
    "password": {
        "client_id": "cid-SECRET-1",
        "client_secret": "csecret-SECRET-2",
        "username": "loader@acme.test",
        "password": "pw-SECRET-5",
        "security_token": "st-SECRET-6",
    },
    "access_token": {"access_token": "00D-SECRET-7", "instance_url": MY_DOMAIN},
}


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
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


# -- the registry and the schema agree ----------------------------------------------------


def test_the_registry_lists_the_documented_flows_in_order():
    documented = ("refresh_token", "jwt_bearer", "client_credentials", "password", "access_token")
    assert documented == AUTH_FLOWS
    assert CONFIG_SCHEMA["properties"]["auth_flow"]["enum"] == list(documented)


def test_every_setting_a_grant_reads_is_in_the_schema():
    for grant in GRANTS.values():
        assert set(grant.settings()) <= set(CONFIG_SCHEMA["properties"]), grant.name


def test_the_schema_marks_secret_exactly_what_the_grants_call_secret():
    marked = {n for n, spec in CONFIG_SCHEMA["properties"].items() if spec.get("secret")}
    assert marked == SECRET_SETTINGS
    # The suite's leak scanner (tests/helpers.py) must look for every one of them.
    assert set(SECRET_KEYS) >= SECRET_SETTINGS


def test_a_grant_calls_secret_only_settings_it_reads():
    for grant in GRANTS.values():
        assert grant.secrets <= set(grant.settings()), grant.name


def test_inference_precedence_is_a_total_order():
    assert len({grant.precedence for grant in GRANTS.values()}) == len(GRANTS)


# -- required settings --------------------------------------------------------------------

REQUIRED = [
    pytest.param("refresh_token", ("client_id", "refresh_token"), id="refresh_token"),
    pytest.param("jwt_bearer", ("client_id", "username"), id="jwt_bearer"),
    pytest.param("client_credentials", ("client_id", "client_secret"), id="client_credentials"),
    pytest.param("password", ("client_id", "client_secret", "username", "password"), id="password"),
    pytest.param("access_token", ("access_token", "instance_url"), id="access_token"),
]


@pytest.mark.parametrize(("flow", "required"), REQUIRED)
def test_a_complete_config_has_no_problem(flow, required):
    config = {"auth_flow": flow, **COMPLETE[flow]}
    assert GRANTS[flow].setting_problems(config) == []
    assert cross_setting_problems(config) == []


@pytest.mark.parametrize(("flow", "required"), REQUIRED)
def test_each_missing_required_setting_is_named(flow, required):
    for name in required:
        config = {"auth_flow": flow, **COMPLETE[flow]}
        del config[name]
        assert f"auth_flow {flow} needs {name}" in cross_setting_problems(config), name


@pytest.mark.parametrize(
    ("flow", "drop"),
    [
        pytest.param("refresh_token", "client_secret", id="refresh-without-secret"),
        pytest.param("password", "security_token", id="password-without-token"),
    ],
)
def test_optional_settings_may_be_left_out(flow, drop):
    config = {"auth_flow": flow, **COMPLETE[flow]}
    del config[drop]
    assert GRANTS[flow].setting_problems(config) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            {"auth_flow": "jwt_bearer", "client_id": "c", "username": "u"},
            "auth_flow jwt_bearer needs private_key or private_key_file",
            id="jwt-without-key",
        ),
        pytest.param(
            {**COMPLETE["jwt_bearer"], "private_key_file": "/k.pem"},
            "give private_key or private_key_file, not both",
            id="jwt-two-keys",
        ),
        pytest.param(
            {**COMPLETE["client_credentials"], "auth_flow": "client_credentials", "domain": "test"},
            "auth_flow client_credentials only works against the org's My Domain",
            id="client-credentials-on-test",
        ),
        pytest.param(
            {"auth_flow": "client_credentials", "client_id": "c", "client_secret": "s"},
            "auth_flow client_credentials only works against the org's My Domain",
            id="client-credentials-default-login",
        ),
        pytest.param(
            {**COMPLETE["access_token"], "instance_url": "http://acme.my.salesforce.com"},
            "instance_url: plain http:// is only allowed to loopback hosts",
            id="access-token-over-http",
        ),
    ],
)
def test_a_grants_own_checks(config, expected):
    problems = cross_setting_problems(config)
    assert any(p.startswith(expected) for p in problems), problems


def test_no_credentials_names_what_each_grant_wants():
    assert cross_setting_problems({}) == [
        "no credentials: give refresh_token, private_key/private_key_file (jwt_bearer), "
        "client_id+client_secret (client_credentials), password, or access_token"
    ]


# -- inference from the credentials given -------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(COMPLETE["refresh_token"], "refresh_token", id="refresh-over-client-pair"),
        pytest.param(COMPLETE["jwt_bearer"], "jwt_bearer", id="private-key"),
        pytest.param({"private_key_file": "k.pem"}, "jwt_bearer", id="private-key-file"),
        pytest.param(COMPLETE["client_credentials"], "client_credentials", id="client-pair"),
        pytest.param(COMPLETE["password"], "password", id="password-over-client-pair"),
        pytest.param(COMPLETE["access_token"], "access_token", id="access-token"),
        pytest.param(
            {**COMPLETE["refresh_token"], "access_token": "t"}, "access_token", id="token-first"
        ),
        pytest.param(
            {**COMPLETE["refresh_token"], "private_key": "k"}, "jwt_bearer", id="key-over-refresh"
        ),
        pytest.param(
            {**COMPLETE["password"], "refresh_token": "r"}, "refresh_token", id="refresh-over-pw"
        ),
        pytest.param(
            {**COMPLETE["access_token"], "auth_flow": "password"}, "password", id="explicit-wins"
        ),
        pytest.param({"client_id": "c"}, None, id="client-id-alone"),
        pytest.param({"username": "u", "domain": "test"}, None, id="no-credentials"),
        pytest.param({"refresh_token": ""}, None, id="empty-is-unset"),
    ],
)
def test_the_flow_follows_the_credentials_given(config, expected):
    grant = grant_for(config)
    assert (grant.name if grant else None) == expected


# -- token requests -----------------------------------------------------------------------


def _request(flow: str, config: dict[str, Any], login_url: str = MY_DOMAIN) -> Any:
    return GRANTS[flow](config, login_url).token_request()


@pytest.mark.parametrize(
    ("flow", "config", "body", "basic_auth"),
    [
        pytest.param(
            "refresh_token",
            COMPLETE["refresh_token"],
            {
                "grant_type": "refresh_token",
                "client_id": "cid-SECRET-1",
                "refresh_token": "rtoken-SECRET-3",
                "client_secret": "csecret-SECRET-2",
            },
            None,
            id="refresh_token",
        ),
        pytest.param(
            "refresh_token",
            {"client_id": "c", "refresh_token": "r"},
            {"grant_type": "refresh_token", "client_id": "c", "refresh_token": "r"},
            None,
            id="refresh_token-without-secret",
        ),
        pytest.param(
            "password",
            COMPLETE["password"],
            {
                "grant_type": "password",
                "client_id": "cid-SECRET-1",
                "client_secret": "csecret-SECRET-2",
                "username": "loader@acme.test",
                "password": "pw-SECRET-5st-SECRET-6",
            },
            None,
            id="password-then-security-token",
        ),
        pytest.param(
            "password",
            {"client_id": "c", "client_secret": "s", "username": "u", "password": "p"},
            {
                "grant_type": "password",
                "client_id": "c",
                "client_secret": "s",
                "username": "u",
                "password": "p",
            },
            None,
            id="password-trusted-ip",
        ),
        pytest.param(
            "client_credentials",
            COMPLETE["client_credentials"],
            {"grant_type": "client_credentials"},
            ("cid-SECRET-1", "csecret-SECRET-2"),
            id="client_credentials-basic-auth",
        ),
    ],
)
def test_token_request_fields(flow, config, body, basic_auth):
    assert _request(flow, config) == TokenRequest(body, basic_auth)


def test_refresh_token_rotation_sends_the_new_token_next_time():
    grant = GRANTS["refresh_token"](COMPLETE["refresh_token"], MY_DOMAIN)
    grant.accept({"access_token": "a"})
    assert grant.token_request().body["refresh_token"] == "rtoken-SECRET-3"
    grant.accept({"access_token": "a", "refresh_token": "rotated"})
    assert grant.token_request().body["refresh_token"] == "rotated"


def test_access_token_is_used_as_given_and_cannot_be_renewed():
    grant = GRANTS["access_token"](COMPLETE["access_token"], LOGIN_HOST)
    assert grant.token_request() == GivenToken("00D-SECRET-7", MY_DOMAIN)
    error = grant.cannot_renew()
    assert error is not None
    assert error.error == "INVALID_SESSION_ID"
    assert "sf org display" in error.hint


@pytest.mark.parametrize("flow", [f for f in AUTH_FLOWS if f != "access_token"])
def test_grants_that_log_in_can_log_in_again(flow):
    assert GRANTS[flow](COMPLETE[flow], MY_DOMAIN).cannot_renew() is None


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        pytest.param(MY_DOMAIN, LOGIN_HOST, id="my-domain"),
        pytest.param(LOGIN_HOST, LOGIN_HOST, id="login"),
        pytest.param(SANDBOX_HOST, SANDBOX_HOST, id="test"),
        pytest.param("https://acme--uat.sandbox.my.salesforce.com", SANDBOX_HOST, id="sandbox"),
    ],
)
@pytest.mark.parametrize("key_as", ["text", "file"])
def test_jwt_assertion_claims(rsa_keys, tmp_path, login_url, audience, key_as):
    private, public = rsa_keys
    config = {"client_id": "cid", "username": "loader@acme.test"}
    if key_as == "text":
        config["private_key"] = private
    else:
        (tmp_path / "server.key").write_text(private)
        config["private_key_file"] = str(tmp_path / "server.key")
    before = int(time.time())
    request = _request("jwt_bearer", config, login_url)
    assert set(request.body) == {"grant_type", "assertion"}
    assert request.body["grant_type"] == JWT_GRANT
    assert request.basic_auth is None
    assert jwt.get_unverified_header(request.body["assertion"])["alg"] == "RS256"
    claims = jwt.decode(request.body["assertion"], public, algorithms=["RS256"], audience=audience)
    assert claims["iss"] == "cid"
    assert claims["sub"] == "loader@acme.test"
    assert before + 170 <= claims["exp"] <= int(time.time()) + 180


# -- secrets never in messages ------------------------------------------------------------


def _secret_values() -> set[str]:
    return {
        str(config[name])
        for config in COMPLETE.values()
        for name in SECRET_SETTINGS
        if config.get(name)
    }


@pytest.mark.parametrize("flow", AUTH_FLOWS)
def test_problems_and_hints_never_show_a_secret(flow):
    texts: list[str] = []
    for drop in GRANTS[flow].required:
        config = {"auth_flow": flow, **COMPLETE[flow], "domain": "login"}
        config.pop(drop)
        texts += cross_setting_problems(config)
    for error, description in [
        ("invalid_grant", "expired access/refresh token"),
        ("invalid_grant", "authentication failure"),
        ("invalid_client_id", "client identifier invalid"),
        ("invalid_client", "invalid client credentials"),
    ]:
        texts.append(login_hint(COMPLETE[flow], flow, error, description))
    renew = GRANTS[flow](COMPLETE[flow], MY_DOMAIN).cannot_renew()
    texts.append(str(renew or ""))
    assert texts
    for secret in _secret_values():
        assert not any(secret in text for text in texts), secret


@pytest.mark.parametrize("name", sorted(SECRET_SETTINGS))
def test_a_secret_of_the_wrong_type_is_not_echoed(name):
    config = {**COMPLETE["password"], "auth_flow": "password", name: 918273645}
    problems = config_problems(config, CONFIG_SCHEMA)
    assert f"{name} must be a string, not an integer" in problems
    assert not any("918273645" in p for p in problems)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({}, "private key is not a valid PEM-encoded RSA private key", id="not-pem"),
        pytest.param(
            {"private_key": None, "private_key_file": "/nonexistent/server.key"},
            "private_key_file '/nonexistent/server.key': No such file or directory",
            id="missing-file",
        ),
    ],
)
def test_a_bad_private_key_is_named_not_quoted(extra, expected):
    config = {**COMPLETE["jwt_bearer"], **extra}
    with pytest.raises(ConfigError) as caught:
        _request("jwt_bearer", {k: v for k, v in config.items() if v is not None})
    assert str(caught.value) == expected
    assert "pem-SECRET-4" not in str(caught.value)
