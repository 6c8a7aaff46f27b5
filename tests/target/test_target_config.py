"""Config errors are reported before any network call, with a clear message."""

from __future__ import annotations

import pytest
from helpers import CONTACT_PROPS, base_config, contacts, run_target, schema

from target_salesforce_out.config_checks import cross_setting_problems
from target_salesforce_out.settings import STREAM_KEYS

CASES = {
    "no credentials": (
        {"client_id": None, "client_secret": None, "refresh_token": None},
        "no credentials",
    ),
    "sandbox contradicts domain": (
        {"domain": "login", "is_sandbox": True},
        "is_sandbox is true but domain 'login'",
    ),
    "production flag with test domain": (
        {"domain": "test", "is_sandbox": False},
        "is_sandbox is false",
    ),
    "sandbox vs my domain": (
        {"domain": "acme.my.salesforce.com", "is_sandbox": True},
        "is a production login",
    ),
    "http to a remote host": (
        {"domain": "http://example.com:8085"},
        "plain http:// is only allowed to loopback",
    ),
    "unknown stream key": (
        {"streams": {"contacts": {"sobjekt": "Contact"}}},
        "streams.contacts: unknown key 'sobjekt'",
    ),
    "unknown defaults key": ({"defaults": {"batchsize": 3}}, "defaults: unknown key 'batchsize'"),
    "batch size too large": (
        {"streams": {"contacts": {"batch_size": 201}}},
        "batch_size 201 is out of range for api auto (1-200)",
    ),
    "batch size zero": ({"defaults": {"batch_size": 0}}, "batch_size 0 is out of range"),
    "jwt without key": (
        {"auth_flow": "jwt_bearer", "username": "u@x.test"},
        "needs private_key or private_key_file",
    ),
    "password without username": (
        {"auth_flow": "password", "password": "pw-secret-1"},
        "auth_flow password needs username",
    ),
    "client credentials on login host": (
        {"auth_flow": "client_credentials", "domain": "login"},
        "only works against the org's My Domain",
    ),
    "access token without instance": (
        {"auth_flow": "access_token", "access_token": "00D!x"},
        "needs instance_url",
    ),
    "access token over http": (
        {"access_token": "00D!x", "instance_url": "http://10.1.2.3"},
        "instance_url: plain http://",
    ),
    "hard delete over rest": (
        {"streams": {"contacts": {"operation": "hard_delete", "api": "rest"}}},
        "hard_delete needs api bulk",
    ),
    "old api version": ({"api_version": "45.0"}, "api_version 45.0 is too old"),
    "usage percent": ({"max_api_usage_percent": 150}, "max_api_usage_percent 150"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_config_error_before_any_network_call(name, salesforce_emulator, tmp_path):
    overrides, expected = CASES[name]
    config = base_config(salesforce_emulator.base_url, tmp_path)
    for key, value in overrides.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    problems = cross_setting_problems(config)
    assert any(expected in p for p in problems), problems
    run = run_target(config, [schema("contacts", CONTACT_PROPS), *contacts(1)], tmp_path)
    assert run.returncode == 2  # a configuration error
    assert expected in run.stderr
    assert salesforce_emulator.requests == []


def test_a_valid_config_has_no_problems(tmp_path):
    config = base_config(
        "http://127.0.0.1:1",
        tmp_path,
        streams={"contacts": {"sobject": "Contact", "batch_size": 200}},
    )
    assert cross_setting_problems(config) == []
    assert (
        cross_setting_problems(
            {**config, "domain": "acme--uat.sandbox.my.salesforce.com", "is_sandbox": True}
        )
        == []
    )


def test_unknown_object_is_a_clear_error(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url, tmp_path, streams={"things": {"sobject": "Thing__c"}}
    )
    run = run_target(
        config,
        [
            schema("things", {"a": {"type": "string"}}),
            {"type": "RECORD", "stream": "things", "record": {"a": "x"}},
        ],
        tmp_path,
    )
    assert run.returncode == 2  # a configuration error
    assert (
        "stream 'things': object 'Thing__c' does not exist or this user cannot see it" in run.stderr
    )


def test_config_from_env_with_nested_json(salesforce_emulator, tmp_path):
    import os

    env = {
        **os.environ,
        "TARGET_SALESFORCE_OUT_DOMAIN": salesforce_emulator.base_url,
        "TARGET_SALESFORCE_OUT_CLIENT_ID": "emulator-client",
        "TARGET_SALESFORCE_OUT_CLIENT_SECRET": "emulator-secret",
        "TARGET_SALESFORCE_OUT_REFRESH_TOKEN": "emulator-refresh-token",
        "TARGET_SALESFORCE_OUT_STREAMS": '{"contacts": {"sobject": "Contact", "external_id_field": "External_Id__c", "field_mapping": {"contact_ref": "External_Id__c"}}}',
        "TARGET_SALESFORCE_OUT_REPORT_PATH": str(tmp_path / "report.json"),
    }
    run = run_target(
        None,
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(3)],
        tmp_path,
        args=["--config", "ENV"],
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert len(salesforce_emulator.records("Contact")) == 3


def test_nulls_are_unset_settings(salesforce_emulator, tmp_path):
    """Meltano sends null for each declared ``defaults.<key>`` left unset; that is no value."""
    defaults = dict.fromkeys(STREAM_KEYS)
    defaults["external_id_field"] = "External_Id__c"
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        auth_flow=None,
        defaults=defaults,
        # A null in the stream's own entry must not hide the default's value either.
        streams={
            "contacts": {
                "sobject": "Contact",
                "external_id_field": None,
                "field_mapping": {"contact_ref": "External_Id__c"},
            }
        },
    )
    run = run_target(
        config, [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(2)], tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert sorted(c["External_Id__c"] for c in salesforce_emulator.records("Contact")) == [
        "C-0",
        "C-1",
    ]
