"""The example Meltano project: `meltano install`, then `meltano run` against the emulator.

Meltano runs from its own venv (.venv-meltano, made by `make meltano` or here when missing) in
the checkout itself, so the loader's `pip_url: -e .` installs this working tree. Each test gets
its own Meltano system database (where state lives) and its own emulator.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from helpers import DEMO_CREDENTIALS, TARGET, assert_no_secrets

ROOT = Path(__file__).resolve().parents[2]
MELTANO_VENV = ROOT / ".venv-meltano"
MELTANO = MELTANO_VENV / "bin" / "meltano"
STATE_ID = "emulator:tap-spreadsheets-to-target-salesforce-out"
EXAMPLES = ROOT / "examples"
# Loader capabilities Meltano's schema accepts.
MELTANO_LOADER_CAPABILITIES = {
    "about",
    "stream-maps",
    "activate-version",
    "batch",
    "soft-delete",
    "hard-delete",
    "datatype-failsafe",
    "schema-flattening",
    "structured-logging",
}


def _ensure_meltano() -> None:
    """Create .venv-meltano the way `make meltano` does, when a bare pytest run lacks it."""
    if MELTANO.exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(MELTANO_VENV)], check=True)
    pip = [str(MELTANO_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-r", str(ROOT / "requirements-meltano.txt")], check=True)


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without settings that would leak into the project."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TARGET_SALESFORCE_OUT_", "TAP_SPREADSHEETS_", "MELTANO_"))
    }
    env.update(extra)
    return env


def meltano(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(MELTANO), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"meltano {' '.join(args)} failed:\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="session")
def meltano_installed(tmp_path_factory) -> None:
    """`meltano install` once per session (uv's cache makes a repeat take seconds)."""
    _ensure_meltano()
    db = tmp_path_factory.mktemp("meltano-install") / "meltano.db"
    meltano("install", env=_clean_env(MELTANO_DATABASE_URI=f"sqlite:///{db}"), timeout=900)


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (EXAMPLES / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _bookmark_of(path: Path) -> str:
    """The replication key value tap-spreadsheets stores for a file: its mtime, in seconds."""
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).replace(microsecond=0)
    return mtime.isoformat()


def test_meltano_run_loads_the_example_contacts_and_stores_state(
    meltano_installed, salesforce_emulator, tmp_path
):
    report_path = tmp_path / "report.json"
    env = _clean_env(
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        TARGET_SALESFORCE_OUT_DOMAIN=salesforce_emulator.base_url,
        TARGET_SALESFORCE_OUT_REPORT_PATH=str(report_path),
    )

    run = meltano("run", "tap-spreadsheets", "target-salesforce-out", env=env)
    assert_no_secrets(DEMO_CREDENTIALS, {}, [run.stdout, run.stderr, report_path.read_text()])

    # Accounts, field by field.
    accounts = {a["External_Id__c"]: a for a in salesforce_emulator.records("Account")}
    expected_accounts = _csv_rows("accounts.csv")
    assert sorted(accounts) == sorted(row["account_ref"] for row in expected_accounts)
    for row in expected_accounts:
        stored = accounts[row["account_ref"]]
        assert stored["Name"] == row["name"]
        assert stored["Industry"] == row["industry"]
        assert stored["Website"] == row["website"]
        assert stored["BillingCity"] == row["billing_city"]

    # Contacts, field by field, each linked to its Account through Account.External_Id__c.
    contacts = {c["External_Id__c"]: c for c in salesforce_emulator.records("Contact")}
    expected_contacts = _csv_rows("contacts.csv")
    assert len(expected_contacts) == 20
    assert sorted(contacts) == sorted(row["contact_id"] for row in expected_contacts)
    for row in expected_contacts:
        stored = contacts[row["contact_id"]]
        assert stored["FirstName"] == row["first_name"]
        assert stored["LastName"] == row["last_name"]
        assert stored["Email"] == row["email"]
        assert stored["Phone"] == row["phone"]
        assert stored["Title"] == row["title"]
        assert stored["Loyalty_Tier__c"] == row["loyalty_tier"]
        assert stored["Total_Orders__c"] == float(row["total_orders"])
        assert stored["AccountId"] == accounts[row["company_ref"]]["Id"]
    # tap-spreadsheets' _sdc_* columns are never sent.
    assert not any(key.startswith("_sdc") for c in contacts.values() for key in c)

    report = json.loads(report_path.read_text())
    assert report["status"] == "succeeded"
    assert report["streams"]["accounts"]["created"] == 5
    assert report["streams"]["contacts"]["created"] == 20

    # Meltano kept the final STATE the target emitted: one bookmark per file.
    listed = meltano("state", "list", env=env).stdout.split()
    assert STATE_ID in listed
    state = json.loads(meltano("state", "get", STATE_ID, env=env).stdout)
    bookmarks = state["singer_state"]["bookmarks"]
    assert bookmarks["accounts"]["replication_key"] == "_sdc_last_modified"
    assert bookmarks["accounts"]["replication_key_value"] == _bookmark_of(EXAMPLES / "accounts.csv")
    assert bookmarks["contacts"]["replication_key_value"] == _bookmark_of(EXAMPLES / "contacts.csv")

    # A full refresh replays every row: upserts by external id update, never duplicate.
    meltano("run", "--full-refresh", "tap-spreadsheets", "target-salesforce-out", env=env)
    assert len(salesforce_emulator.records("Contact")) == 20
    assert len(salesforce_emulator.records("Account")) == 5
    report = json.loads(report_path.read_text())
    assert (report["streams"]["contacts"]["created"], report["streams"]["contacts"]["updated"]) == (
        0,
        20,
    )


def _project() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))


def _loader(project: dict) -> dict:
    [loader] = project["plugins"]["loaders"]
    return loader


@pytest.fixture(scope="module")
def about() -> dict:
    """What the target says about itself (`--about --format json`)."""
    proc = subprocess.run(
        [str(TARGET), "--about", "--format", "json"], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


# singer-sdk built-ins the loader definition leaves out: `_sdc_*` metadata is never sent unless
# mapped, there is no load method to choose, and the sink's own batch size wins over
# batch_size_rows.
SDK_SETTINGS_NOT_DECLARED = {
    "add_record_metadata",
    "load_method",
    "batch_size_rows",
    "flattening_max_key_length",
    "flattening_separator",
}


def test_meltano_yml_declares_every_setting_as_the_target_does(about):
    project = _project()
    assert project["requires_meltano"] == ">=4.0"
    assert "version" not in project
    loader = _loader(project)
    declared = {s["name"]: s for s in loader["settings"]}
    properties = about["settings"]["properties"]
    assert set(declared) == set(properties) - SDK_SETTINGS_NOT_DECLARED
    for name, setting in declared.items():
        spec = properties[name]
        assert setting.get("sensitive", False) == bool(spec.get("secret")), name
        if setting.get("sensitive"):
            assert setting["kind"] == "string", name
        if spec.get("default") is not None:
            assert setting.get("value") == spec["default"], name
    assert declared["streams"]["kind"] == "object"
    assert declared["defaults"]["kind"] == "object"
    for group in loader["settings_group_validation"]:
        assert set(group) <= set(declared), group


def test_meltano_yml_capabilities_are_valid_and_real(about):
    capabilities = set(_loader(_project())["capabilities"])
    assert capabilities <= MELTANO_LOADER_CAPABILITIES
    assert capabilities <= set(about["capabilities"])


def test_demo_credentials_live_only_in_the_emulator_environment():
    project = _project()
    plugin_config = json.dumps(_loader(project).get("config") or {})
    assert not any(value in plugin_config for value in DEMO_CREDENTIALS.values())
    environments = {e["name"]: e for e in project["environments"]}
    [emulator_loader] = environments["emulator"]["config"]["plugins"]["loaders"]
    assert DEMO_CREDENTIALS.items() <= emulator_loader["config"].items()
    assert "config" not in environments["prod"]
