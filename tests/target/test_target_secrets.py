"""Secrets never reach stdout, stderr, the report or the dead-letter file.

``helpers.run_target`` scans the outputs of every run in the suite; this test makes a run that
exercises the paths most likely to leak (rejections, a login failure, a retried call).
"""

from __future__ import annotations

from helpers import (
    CONTACT_PROPS,
    CONTACT_STREAM,
    assert_no_secrets,
    base_config,
    contacts,
    record,
    run_target,
    schema,
)


def test_rejections_and_retries_leak_no_secret(salesforce_emulator_factory, tmp_path):
    emulator = salesforce_emulator_factory(
        token_ttl_calls=2,
        faults=[
            {"match": {"path_contains": "/composite/sobjects"}, "on_calls": [1], "status": 500}
        ],
    )
    config = base_config(
        emulator.base_url,
        tmp_path,
        on_record_error="continue",
        streams={"contacts": CONTACT_STREAM},
    )
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(300),
        record("contacts", {"contact_ref": "C-x", "last_name": None}),
    ]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.dead_letters
    texts = [run.stdout, run.stderr, str(run.report), str(run.dead_letters)]
    assert_no_secrets(config, {}, texts)


def test_login_failure_leaks_no_secret(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        client_secret="s3cr3t-value-123",
        streams={"contacts": CONTACT_STREAM},
    )
    run = run_target(
        config, [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1)], tmp_path
    )
    assert run.returncode == 2  # a login error
    assert "Salesforce login failed" in run.stderr
    assert "s3cr3t-value-123" not in run.stderr
