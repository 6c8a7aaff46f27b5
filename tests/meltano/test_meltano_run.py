"""The example Meltano project: `meltano install`, `meltano run`, `config list` and `config test`.

Meltano runs from its own venv (.venv-meltano, made by `make meltano` or here when missing) in
the checkout itself, so the loader's `pip_url: -e .` installs this working tree. Each test gets
its own Meltano system database (where state lives) and its own emulator.
"""

from __future__ import annotations

import csv
import json
import os
import socket
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


def meltano(
    *args: str, env: dict[str, str], timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(MELTANO), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
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
    assert sorted(accounts) == sorted(row["external_id"] for row in expected_accounts)
    for row in expected_accounts:
        stored = accounts[row["external_id"]]
        assert stored["Name"] == row["name"]
        assert stored["Industry"] == row["industry"]
        assert stored["Website"] == row["website"]
        assert stored["BillingCity"] == row["billing_city"]

    # Contacts, field by field, each linked to its Account through Account.External_Id__c.
    contacts = {c["External_Id__c"]: c for c in salesforce_emulator.records("Contact")}
    expected_contacts = _csv_rows("contacts.csv")
    assert len(expected_contacts) == 20
    assert sorted(contacts) == sorted(row["external_id"] for row in expected_contacts)
    for row in expected_contacts:
        stored = contacts[row["external_id"]]
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
    settings = {s["name"]: s for s in loader["settings"]}
    declared = {name: s for name, s in settings.items() if "." not in name}
    properties = about["settings"]["properties"]
    assert set(declared) == set(properties) - SDK_SETTINGS_NOT_DECLARED
    # Every key of `defaults` is a setting of its own (`meltano config list` shows it as the
    # loader's); the example declares its one per-stream key the same way.
    stream_keys = properties["defaults"]["properties"]
    nested = {name: s for name, s in settings.items() if "." in name}
    assert {n for n in nested if n.startswith("defaults.")} == {
        f"defaults.{k}" for k in stream_keys
    }
    for name, setting in nested.items():
        root, *rest = name.split(".")
        key = rest[0] if root == "defaults" else rest[1]
        assert root in {"defaults", "streams"} and key in stream_keys, name
        spec = stream_keys[key] if len(rest) == (1 if root == "defaults" else 2) else None
        if spec is not None and spec.get("enum"):
            assert setting["kind"] == "options", name
            assert [o["value"] for o in setting["options"]] == spec["enum"], name
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


def test_config_list_shows_nested_keys_as_the_loaders_own(tmp_path):
    """`defaults.*` and the example's per-stream key are declared: nothing shows as custom."""
    _ensure_meltano()
    env = _clean_env(
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        TARGET_SALESFORCE_OUT_DEFAULTS_OPERATION="insert",
    )
    listed = meltano("config", "list", "target-salesforce-out", env=env).stdout
    assert "Custom, possibly unsupported by the plugin" not in listed
    assert "defaults.external_id_field [env: TARGET_SALESFORCE_OUT_DEFAULTS_EXTERNAL_ID_FIELD]" in (
        listed
    )
    operation = "defaults.operation [env: TARGET_SALESFORCE_OUT_DEFAULTS_OPERATION] current value"
    assert f"{operation}: 'insert'" in listed
    assert "streams.contacts.field_mapping.company_ref [env:" in listed
    # Meltano nests the dotted settings back into the objects the target reads.
    dumped = meltano("invoke", "--dump=config", "target-salesforce-out", env=env).stdout
    config = json.loads(dumped[dumped.index("{") :])
    assert config["defaults"]["operation"] == "insert"
    assert config["defaults"]["external_id_field"] == "External_Id__c"
    assert config["streams"] == {
        "contacts": {"field_mapping": {"company_ref": "Account.External_Id__c"}}
    }


def test_our_copy_of_meltanos_test_messages_is_meltanos():
    """tests/data/meltano_test_messages.jsonl (tests/target's copy) is what Meltano sends."""
    _ensure_meltano()
    script = (
        "import json\n"
        "from meltano.core.plugin_test_service import LoaderTestService\n"
        "service = LoaderTestService.__new__(LoaderTestService)\n"
        "service.plugin_invoker = type('Invoker', (), {'capabilities': []})()\n"
        "print(json.dumps([json.loads(m) for m in "
        "service._generate_test_messages('meltano_test_stream')]))\n"
    )
    proc = subprocess.run(
        [str(MELTANO_VENV / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = ROOT / "tests" / "data" / "meltano_test_messages.jsonl"
    expected = [json.loads(line) for line in ours.read_text(encoding="utf-8").splitlines()]
    assert json.loads(proc.stdout) == expected


def _loader_lines(output: str) -> list[str]:
    """The loader's own output, which `meltano --log-level=debug config test` echoes."""
    return [line.split("meltano      ", 1)[1] for line in output.splitlines() if "[debug" in line]


def test_meltano_config_test_logs_in_and_loads_nothing(
    meltano_installed, salesforce_emulator, tmp_path
):
    env = _clean_env(
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        TARGET_SALESFORCE_OUT_DOMAIN=salesforce_emulator.base_url,
    )
    # `meltano config` ignores the default environment: the emulator's credentials live there.
    proc = meltano(
        "--log-level=debug",
        "--environment=emulator",
        "config",
        "test",
        "target-salesforce-out",
        env=env,
        check=False,
    )
    output = proc.stdout + proc.stderr
    lines = _loader_lines(output)
    assert "Process return code: 0" in lines, output[-4000:]
    assert any("connection test: logged in to" in line for line in lines)
    # Meltano's own verdict reads the loader's lines for "error" and "exception".
    loader = lines[lines.index(next(x for x in lines if x.startswith("Invoking:"))) + 1 :]
    assert not [x for x in loader if "error" in x.lower() or "exception" in x.lower()]
    assert salesforce_emulator.records("Account") == []
    assert [r["path"] for r in salesforce_emulator.requests] == [
        "/services/oauth2/token",
        "/services/data/v62.0/sobjects",
    ]
    # Meltano 4.4.1 then says the configuration is valid, or, in most runs, fails in its own
    # clean-up: it calls terminate() on the loader process after waiting for it to exit, and
    # asyncio raises ProcessLookupError for a process already reaped (whatever the loader did).
    assert "Plugin configuration is valid" in output or "ProcessLookupError" in output, output


def test_meltano_config_test_fails_with_the_reason(meltano_installed, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _clean_env(
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        TARGET_SALESFORCE_OUT_DOMAIN=f"http://127.0.0.1:{port}",
    )
    proc = meltano(
        "--log-level=debug",
        "--environment=emulator",
        "config",
        "test",
        "target-salesforce-out",
        env=env,
        check=False,
    )
    output = proc.stdout + proc.stderr
    lines = _loader_lines(output)
    assert proc.returncode != 0
    assert "Process return code: 2" in lines, output[-4000:]
    assert any(
        f"connection refused: nothing is listening at http://127.0.0.1:{port}" in line
        for line in lines
    )


def test_readme_connection_check_through_meltano_invoke(
    meltano_installed, salesforce_emulator, tmp_path
):
    """The README's `echo ... | meltano invoke` check: a login and describe, nothing loaded."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index('    echo \'{"type": "SCHEMA", "stream": "meltano_test_stream"')
    command = readme[start : readme.index("\n\n", start)].replace("\\\n", "\n").strip()
    env = _clean_env(
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        TARGET_SALESFORCE_OUT_DOMAIN=salesforce_emulator.base_url,
    )
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", " ".join(command.split())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "connection test: logged in to" in proc.stdout + proc.stderr
    assert [r["path"] for r in salesforce_emulator.requests] == [
        "/services/oauth2/token",
        "/services/data/v62.0/sobjects",
    ]
