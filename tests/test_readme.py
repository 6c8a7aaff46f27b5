"""The README's configs, CI example, curl session and demo are exercised, not just shown."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from target_salesforce_out.config_checks import config_problems, cross_setting_problems
from target_salesforce_out.settings import CONFIG_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETTINGS = set(CONFIG_SCHEMA["properties"])
TARGET = Path(sys.executable).with_name("target-salesforce-out")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


CONFIGS = [
    c for c in map(json.loads, _blocks("json")) if isinstance(c, dict) and set(c) <= SETTINGS
]


def test_readme_has_a_config_per_auth_flow():
    flows = {
        c.get("auth_flow")
        or (
            "refresh_token"
            if "refresh_token" in c
            else "access_token"
            if "access_token" in c
            else None
        )
        for c in CONFIGS
    }
    assert {
        "jwt_bearer",
        "client_credentials",
        "refresh_token",
        "password",
        "access_token",
    } <= flows


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(sorted(c))[:60])
def test_readme_configs_are_valid(config):
    assert list(Draft7Validator(CONFIG_SCHEMA).iter_errors(config)) == []
    assert cross_setting_problems(config) == []


def _meltano_loader_configs() -> list[dict]:
    """The loader configs of the README's meltano.yml snippets."""
    configs = []
    for block in _blocks("yaml"):
        loaded = yaml.safe_load(block)
        if not isinstance(loaded, dict) or "jobs" in loaded:
            continue
        loaders = (loaded.get("plugins") or loaded).get("loaders") or []
        configs += [
            loader["config"] for loader in loaders if loader["name"] == "target-salesforce-out"
        ]
    return configs


def test_meltano_snippets_have_valid_settings():
    configs = _meltano_loader_configs()
    assert len(configs) >= 6  # one per sync-memory feature at least
    for config in configs:
        assert set(config) <= SETTINGS, set(config) - SETTINGS
        assert list(Draft7Validator(CONFIG_SCHEMA).iter_errors(config)) == []


def test_ci_example_env_settings_are_valid():
    checked = 0
    for block in _blocks("yaml"):
        loaded = yaml.safe_load(block)
        if isinstance(loaded, dict) and "jobs" not in loaded:
            continue  # a meltano.yml snippet (see test_meltano_snippets_have_valid_settings)
        # A whole workflow, or a fragment that is a list of steps.
        jobs = loaded["jobs"].values() if isinstance(loaded, dict) else [{"steps": loaded}]
        for job in jobs:
            for step in job["steps"]:
                env = step.get("env") or {}
                config = {
                    k.removeprefix("TARGET_SALESFORCE_OUT_").lower(): (
                        json.loads(v) if v.startswith("{") else v
                    )
                    for k, v in env.items()
                    if k.startswith("TARGET_SALESFORCE_OUT_")
                }
                if config:
                    assert set(config) <= SETTINGS
                    assert cross_setting_problems(config) == []
                    checked += 1
    assert checked == 2


def test_settings_table_matches_about():
    about = subprocess.run(
        [
            str(Path(sys.executable).with_name("target-salesforce-out")),
            "--about",
            "--format",
            "markdown",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line for line in about.splitlines() if line.startswith("| ")]
    assert rows and all(row in README for row in rows)


def test_curl_session_runs_against_the_emulator(salesforce_emulator):
    [script] = [b for b in _blocks("sh") if "BASE=http://127.0.0.1:8085" in b]
    script = script.replace("BASE=http://127.0.0.1:8085", f"BASE={salesforce_emulator.base_url}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "HTTP/1.1 200" in result.stdout or "HTTP/1.0 200" in result.stdout
    assert '"statusCode":"REQUIRED_FIELD_MISSING"' in result.stdout
    assert "[('C-1', 'Doe')]" in result.stdout
    assert result.stdout.strip().endswith("204") or result.stdout.strip().endswith("200")


def test_demo_runs_and_prints_the_report():
    result = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "run_demo.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Run report" in result.stdout
    assert '"status": "succeeded"' in result.stdout
    assert "Contact records now in the emulator: 5" in result.stdout
    # The demo says where its config is, and that its one rejection is on purpose.
    assert "config: demo/config.json" in result.stdout
    assert "one record built to be rejected: contact C-2005" in result.stdout
    assert "contacts: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in result.stdout
    assert "contact `C-2005`" in README and "`demo/config.json`" in README


def test_demo_config_is_valid():
    config = json.loads((ROOT / "demo" / "config.json").read_text(encoding="utf-8"))
    schema = json.loads(
        subprocess.run(
            [str(TARGET), "--about", "--format", "json"], capture_output=True, text=True, check=True
        ).stdout
    )["settings"]
    assert config_problems(config, schema) == []


def test_bare_commands_come_after_saying_how_to_reach_them():
    """`target-salesforce-out` and `salesforce-emulator` are in .venv/bin, not on PATH."""
    activate = README.index(". .venv/bin/activate")
    command = re.compile(r"^ {4}(tap-anything \| )?(target-salesforce-out|salesforce-emulator)\b")
    first_bare = min(README.index(line) for line in README.splitlines() if command.match(line))
    assert activate < first_bare


@pytest.mark.parametrize(
    ("rule", "commands"),
    [
        pytest.param(
            "meltano",
            [
                "-m venv .venv\n",
                "pip install -q -e '.[dev]'",
                "-m venv .venv-meltano",
                "meltano install",
            ],
            id="meltano-builds-the-emulator-too",
        ),
        pytest.param("emulator", [".venv/bin/salesforce-emulator --port 8085"], id="emulator"),
        pytest.param("demo", ["-m venv .venv\n", "demo/run_demo.py"], id="demo"),
    ],
)
def test_each_readme_section_works_from_a_fresh_clone(rule, commands):
    """What `make <rule>` runs when nothing is built yet (-B: as if every target were stale)."""
    planned = subprocess.run(
        ["make", "-n", "-B", rule], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for command in commands:
        assert command in planned, planned
