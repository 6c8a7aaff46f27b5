"""The target itself against ``salesforce-emulator --tls``: ``domain`` is the https base URL and
``REQUESTS_CA_BUNDLE`` names the CA file (set by the ``emulator`` fixture); verification stays on."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import CONTACT_PROPS, CONTACT_STREAM, base_config, contacts, run_target, schema

from target_salesforce_out.emulator import Emulator


def test_target_loads_over_https(emulator: Emulator, tmp_path: Path) -> None:
    config = base_config(emulator.base_url, tmp_path, streams={"contacts": CONTACT_STREAM})
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(3)]
    run = run_target(config, messages, tmp_path, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    assert sorted(r["External_Id__c"] for r in emulator.records("Contact")) == [
        "C-0",
        "C-1",
        "C-2",
    ]


def test_target_without_the_ca_file_refuses_the_certificate(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = base_config(emulator.base_url, tmp_path, streams={"contacts": CONTACT_STREAM})
    env = {k: v for k, v in os.environ.items() if k not in {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"}}
    run = run_target(
        config, [schema("contacts", CONTACT_PROPS, ["contact_ref"])], tmp_path, env=env
    )
    assert run.returncode != 0
    assert "certificate" in run.stderr.lower()
    assert emulator.records("Contact") == []


def test_a_ca_file_that_is_not_there_is_a_one_line_config_error(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = base_config(emulator.base_url, tmp_path, streams={"contacts": CONTACT_STREAM})
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(tmp_path / "nope.pem")}
    run = run_target(
        config, [schema("contacts", CONTACT_PROPS, ["contact_ref"])], tmp_path, env=env
    )
    assert run.returncode == 2, run.stderr
    assert "point REQUESTS_CA_BUNDLE at an existing CA file" in run.stderr
    assert "Traceback" not in run.stderr and "unexpected error" not in run.stderr


def test_plain_http_to_a_tls_emulator_says_to_use_https(emulator: Emulator, tmp_path: Path) -> None:
    plain = emulator.base_url.replace("https://", "http://")
    config = base_config(plain, tmp_path, streams={"contacts": CONTACT_STREAM})
    run = run_target(
        config, [schema("contacts", CONTACT_PROPS, ["contact_ref"])], tmp_path, env=dict(os.environ)
    )
    assert run.returncode == 2, run.stderr
    assert f"set domain to {emulator.base_url}" in run.stderr
