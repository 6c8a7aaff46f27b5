"""Each mistake a user can make in the config gets one line that says what to fix, and exit 2.

Every case runs the console script as a user would. Mistakes found in the config itself stop
the run before any network call; the ones only a server can reveal (a port with nothing
listening, https to the plain-http emulator, a wrong password) run against the emulator.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from helpers import (
    CONTACT_PROPS,
    CONTACT_STREAM,
    DEMO_CREDENTIALS,
    TARGET,
    Run,
    base_config,
    contacts,
    record,
    run_target,
    schema,
)

from target_salesforce_out.auth import login_hint

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXIT_CONFIG = 2
# What a user must never see: library internals instead of the reason.
NOISE = (
    "Traceback",
    "Backing off",
    "Giving up",
    "urllib3",
    "HTTPConnectionPool",
    "MaxRetryError",
    "NewConnectionError",
    "SSLError",
    "_LoginUnavailableError",
    "login_unavailable",
)


def error_lines(run: Run) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| ERROR" in line]


def assert_one_line(run: Run, expected: str) -> None:
    """Exit 2 and exactly one error line, which holds ``expected``; no library noise."""
    assert run.returncode == EXIT_CONFIG, run.stderr
    lines = error_lines(run)
    assert len(lines) == 1, run.stderr
    assert expected in lines[0], lines[0]
    for noise in NOISE:
        assert noise not in run.stderr, noise


def free_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


INPUT = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(2)]

# (overrides of the base config, the line the user gets); None removes the setting.
CONFIG_MISTAKES = [
    pytest.param(
        {"on_record_eror": "continue"},
        "configuration: unknown setting 'on_record_eror'; did you mean 'on_record_error'?",
        id="misspelt-setting",
    ),
    pytest.param(
        {"client_secert": "emulator-secret"},
        "unknown setting 'client_secert'; did you mean 'client_secret'?",
        id="misspelt-secret-setting",
    ),
    pytest.param(
        {"stream": {"contacts": CONTACT_STREAM}},
        "unknown setting 'stream'; did you mean 'streams'?",
        id="stream-for-streams",
    ),
    pytest.param(
        {"deleted_records": "delete"},
        "'deleted_records' is a per-stream key: put it under streams.<stream name> or under "
        "defaults",
        id="stream-key-at-the-top-level",
    ),
    pytest.param(
        {"streams": {"contacts": {**CONTACT_STREAM, "sobjekt": "Contact"}}},
        "streams.contacts: unknown key 'sobjekt'; did you mean 'sobject'?",
        id="misspelt-stream-key",
    ),
    pytest.param(
        {"defaults": {"opertion": "insert"}},
        "defaults: unknown key 'opertion'; did you mean 'operation'?",
        id="misspelt-defaults-key",
    ),
    pytest.param(
        {"defaults": {"operation": "upsrt"}},
        "defaults.operation: 'upsrt' is not one of insert, update, upsert, delete, hard_delete; "
        "did you mean 'upsert'?",
        id="misspelt-operation",
    ),
    pytest.param(
        {"domain": "logn"},
        "domain 'logn' is not login, test or a full host name; did you mean 'login'?",
        id="domain-logn",
    ),
    pytest.param(
        {"domain": "acme"},
        "did you mean 'acme.my.salesforce.com'?",
        id="domain-bare-name",
    ),
    pytest.param(
        {"domain": "https//acme.my.salesforce.com"},
        "domain 'https//acme.my.salesforce.com' is not a valid URL; did you mean "
        "'https://acme.my.salesforce.com'?",
        id="domain-url-without-colon",
    ),
    pytest.param(
        {"domain": "htps://acme.my.salesforce.com"},
        "did you mean 'https://acme.my.salesforce.com'?",
        id="domain-misspelt-scheme",
    ),
    pytest.param(
        {"domain": "acme.my.salesforce.com:44x3"},
        "is not login, test, a host name",
        id="domain-bad-port",
    ),
    pytest.param(
        {"client_secret": 12345},
        "configuration: client_secret must be a string, not an integer",
        id="secret-not-a-string",
    ),
    pytest.param(
        {"max_concurrency": "8"},
        "max_concurrency must be an integer, not a string '8'",
        id="number-as-string",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), CONFIG_MISTAKES)
def test_config_mistake_is_one_line_before_any_call(
    overrides, expected, salesforce_emulator, tmp_path
):
    config = base_config(salesforce_emulator.base_url, tmp_path, **overrides)
    if "stream" not in overrides:
        config.setdefault("streams", {"contacts": CONTACT_STREAM})
    run = run_target(config, INPUT, tmp_path)
    assert_one_line(run, expected)
    assert salesforce_emulator.requests == []


def test_a_secret_of_the_wrong_type_is_never_echoed(salesforce_emulator, tmp_path):
    config = base_config(salesforce_emulator.base_url, tmp_path, client_secret=987654321)
    run = run_target(config, INPUT, tmp_path)
    assert_one_line(run, "client_secret must be a string")
    assert "987654321" not in run.stderr + run.stdout


def test_each_problem_is_its_own_line(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        on_record_eror="continue",
        streams={"contacts": {**CONTACT_STREAM, "sobjekt": "Contact"}},
    )
    run = run_target(config, INPUT, tmp_path)
    assert run.returncode == EXIT_CONFIG
    lines = error_lines(run)
    assert len(lines) == 2, run.stderr
    assert "did you mean 'on_record_error'?" in lines[0]
    assert "did you mean 'sobject'?" in lines[1]


def test_singer_sdk_settings_stay_accepted(salesforce_emulator, tmp_path):
    # Settings singer-sdk itself defines: a config shared with other singer-sdk targets works.
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"contacts": CONTACT_STREAM},
        batch_size_rows=100,
        load_method="upsert",
        flattening_enabled=False,
        validate_records=True,
    )
    run = run_target(config, INPUT, tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(salesforce_emulator.records("Contact")) == 2


def test_env_config_ignores_other_variables(salesforce_emulator, tmp_path):
    env = {
        **os.environ,
        "TARGET_SALESFORCE_OUT_DOMAIN": salesforce_emulator.base_url,
        "TARGET_SALESFORCE_OUT_CLIENT_ID": "emulator-client",
        "TARGET_SALESFORCE_OUT_CLIENT_SECRET": "emulator-secret",
        "TARGET_SALESFORCE_OUT_REFRESH_TOKEN": "emulator-refresh-token",
        "TARGET_SALESFORCE_OUT_STREAMS": json.dumps({"contacts": CONTACT_STREAM}),
        # Not settings: singer-sdk's log level, and what a shell or CI may export.
        "TARGET_SALESFORCE_OUT_LOGLEVEL": "INFO",
        "TARGET_SALESFORCE_OUT_SOMETHING_ELSE": "x",
    }
    run = run_target(None, INPUT, tmp_path, args=["--config", "ENV"], env=env)
    assert run.returncode == 0, run.stderr
    assert len(salesforce_emulator.records("Contact")) == 2


# -- the config file itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(None, "config file '{path}' not found", id="missing"),
        pytest.param("", "config file '{path}' is empty", id="empty"),
        pytest.param(
            '{"domain": "login",}',
            "config file '{path}' is not valid JSON: Illegal trailing comma before end of "
            "object at line 1 column 19",
            id="trailing-comma",
        ),
        pytest.param(
            '["domain"]', "config file '{path}' holds a list; it must hold a JSON object", id="list"
        ),
        pytest.param("directory", "config file '{path}' is a directory", id="directory"),
    ],
)
def test_unusable_config_file_is_one_line(content, expected, tmp_path):
    path = tmp_path / "settings.json"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    run = run_target(None, INPUT, tmp_path, args=["--config", str(path)])
    assert_one_line(run, "configuration: " + expected.format(path=path))


# -- what only a server reveals -----------------------------------------------------------


def test_domain_without_scheme_says_the_emulator_speaks_http(salesforce_emulator, tmp_path):
    host_port = salesforce_emulator.base_url.removeprefix("http://")
    config = base_config(host_port, tmp_path, streams={"contacts": CONTACT_STREAM})
    run = run_target(config, INPUT, tmp_path)
    assert_one_line(run, f"set domain to http://{host_port}")
    assert f"domain {host_port!r} has no scheme, so https:// was used" in run.stderr
    # A TLS handshake fails the same way every time: tried once, not four times.
    assert salesforce_emulator.requests == []


def test_port_with_nothing_listening_says_connection_refused(tmp_path):
    port = free_port()
    config = base_config(f"http://127.0.0.1:{port}", tmp_path, streams={"contacts": CONTACT_STREAM})
    run = run_target(config, INPUT, tmp_path)
    assert_one_line(
        run,
        f"Salesforce login failed: connection refused: nothing is listening at "
        f"http://127.0.0.1:{port} (tried 4 times). Is the emulator running? Start it with "
        f"`salesforce-emulator --port {port}`",
    )


def test_wrong_password_points_at_the_security_token(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        auth_flow="password",
        username="admin@emulator.test",
        password="emulator-password",  # the security token is missing
        refresh_token=None,
        streams={"contacts": CONTACT_STREAM},
    )
    config = {k: v for k, v in config.items() if v is not None}
    run = run_target(config, INPUT, tmp_path)
    assert_one_line(run, "invalid_grant: authentication failure. Check username and password.")
    assert "set security_token" in run.stderr
    assert "5 approvals" not in run.stderr


def test_mistyped_refresh_token_says_check_it_first(salesforce_emulator, tmp_path):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        refresh_token="emulator-refresh-tokn",
        streams={"contacts": CONTACT_STREAM},
    )
    run = run_target(config, INPUT, tmp_path)
    assert_one_line(run, "invalid_grant: expired access/refresh token")
    # Salesforce answers a mistyped token as it answers a revoked one: say both, typo first.
    line = error_lines(run)[0]
    assert line.index("copied completely") < line.index("at most 5 approvals")


@pytest.mark.parametrize(
    ("flow", "error", "description", "config", "expected"),
    [
        pytest.param(
            "refresh_token",
            "invalid_grant",
            "expired access/refresh token",
            {},
            "at most 5 approvals",
            id="refresh-expired",
        ),
        pytest.param(
            "refresh_token",
            "invalid_grant",
            "token has been revoked",
            {},
            "at most 5 approvals",
            id="refresh-revoked",
        ),
        pytest.param(
            "refresh_token", "invalid_grant", "inactive user", {}, "", id="refresh-other-grant"
        ),
        pytest.param(
            "refresh_token",
            "invalid_client",
            "invalid client credentials",
            {},
            "client_secret is not the consumer secret",
            id="refresh-wrong-secret",
        ),
        pytest.param(
            "password",
            "invalid_grant",
            "authentication failure",
            {},
            "set security_token",
            id="password-no-token",
        ),
        pytest.param(
            "password",
            "invalid_grant",
            "authentication failure",
            {"security_token": "t"},
            "resetting the password also issues a new security token",
            id="password-with-token",
        ),
        pytest.param(
            "jwt_bearer",
            "invalid_grant",
            "expired authorization code",
            {},
            "",
            id="jwt-expired-assertion",
        ),
    ],
)
def test_login_hint_follows_the_error(flow, error, description, config, expected):
    hint = login_hint(config, flow, error, description)
    if expected:
        assert expected in hint
    else:
        assert hint == ""


@pytest.mark.parametrize(
    ("operation", "extra"),
    [
        pytest.param("insert", {}, id="insert"),
        pytest.param("upsert", {}, id="upsert-without-key"),
    ],
)
def test_a_taps_id_property_gets_the_field_mapping_hint(
    operation, extra, salesforce_emulator, tmp_path
):
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={"contacts": {"sobject": "Contact", "operation": operation, **extra}},
    )
    props = {"id": {"type": "string"}, "last_name": {"type": "string"}}
    messages = [
        schema("contacts", props, ["id"]),
        record("contacts", {"id": "src-1", "last_name": "Doe"}),
    ]
    run = run_target(config, messages, tmp_path)
    assert_one_line(
        run,
        "property 'id' was matched to the record Id by its name; if it is the source "
        'system\'s id, map it to an external id field: field_mapping {"id": "External_Id__c"}',
    )
    assert salesforce_emulator.records("Contact") == []


def test_the_id_hint_stays_away_when_id_is_the_key(salesforce_emulator, tmp_path):
    # An update by Salesforce Id is what `id` -> Id means: no hint.
    config = base_config(
        salesforce_emulator.base_url,
        tmp_path,
        streams={
            "contacts": {
                "sobject": "Contact",
                "operation": "update",
                "unmapped_properties": "ignore",
            }
        },
    )
    props = {"id": {"type": "string"}, "last_name": {"type": "string"}}
    messages = [schema("contacts", props, ["id"])]
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "was matched to the record Id" not in run.stderr


# -- Meltano's `config test` ----------------------------------------------------------------

# What `meltano config test` pipes into a loader (Meltano 4.4.1,
# meltano/core/plugin_test_service.py, LoaderTestService._generate_test_messages);
# tests/meltano checks this copy against the installed Meltano.
MELTANO_TEST_MESSAGES = (ROOT / "tests" / "data" / "meltano_test_messages.jsonl").read_text(
    encoding="utf-8"
)


def meltano_style_test(config: dict[str, object], tmp_path: Path) -> tuple[int, list[str]]:
    """Run the target as Meltano's loader test does: stderr into stdout, lines read back."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.run(
        [str(TARGET), "--config", str(path)],
        input=MELTANO_TEST_MESSAGES.encode(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
        check=False,
    )
    return proc.returncode, [line for line in proc.stdout.decode().splitlines() if line.strip()]


def test_meltano_connection_test_logs_in_describes_and_loads_nothing(salesforce_emulator, tmp_path):
    returncode, lines = meltano_style_test(
        {"domain": salesforce_emulator.base_url, **DEMO_CREDENTIALS}, tmp_path
    )
    # Meltano's verdict: exit 0 and no output line that mentions an error or an exception.
    assert returncode == 0, "\n".join(lines)
    assert not [line for line in lines if "error" in line.lower() or "exception" in line.lower()]
    assert any("connection test: logged in to" in line for line in lines)
    calls = [(r["method"], r["path"]) for r in salesforce_emulator.requests]
    assert calls == [("POST", "/services/oauth2/token"), ("GET", "/services/data/v62.0/sobjects")]
    assert salesforce_emulator.records("Account") == []


def test_meltano_connection_test_fails_with_the_reason(salesforce_emulator, tmp_path):
    config = {"domain": salesforce_emulator.base_url, **DEMO_CREDENTIALS, "client_secret": "x"}
    returncode, lines = meltano_style_test(config, tmp_path)
    assert returncode == EXIT_CONFIG
    assert any(
        "Salesforce login failed: invalid_client: invalid client credentials" in line
        for line in lines
    )


def test_a_stream_configured_as_meltano_test_stream_is_loaded(salesforce_emulator, tmp_path):
    config = {
        "domain": salesforce_emulator.base_url,
        **DEMO_CREDENTIALS,
        "streams": {
            "meltano_test_stream": {
                "sobject": "Account",
                "operation": "insert",
                "field_mapping": {"id": "NumberOfEmployees", "name": "Name"},
                "unmapped_properties": "ignore",
            }
        },
    }
    returncode, lines = meltano_style_test(config, tmp_path)
    assert returncode == 0, "\n".join(lines)
    assert [a["Name"] for a in salesforce_emulator.records("Account")] == ["Meltano Test Record"]


# -- --about ------------------------------------------------------------------------------


def test_plain_about_describes_every_setting():
    about = subprocess.run(
        [str(TARGET), "--about"], capture_output=True, text=True, check=True
    ).stdout
    settings = json.loads(
        subprocess.run(
            [str(TARGET), "--about", "--format", "json"], capture_output=True, text=True, check=True
        ).stdout
    )["settings"]["properties"]
    flat = " ".join(about.split())
    for name, spec in settings.items():
        assert f"  {name} (" in about, name
        assert " ".join(str(spec["description"]).split()) in flat, name
    assert "  client_secret (string, secret)" in about
    assert "  on_record_error (one of fail, continue, default fail)" in about
    assert "  streams.<stream>.sobject (string)" in about
    assert "  defaults.operation (one of insert, update, upsert, delete, hard_delete)" in about


# -- the README shows the real thing -------------------------------------------------------


def test_readme_mistake_example_is_real(salesforce_emulator, tmp_path):
    """The README's misspelt-setting example gives the line it shows; its fix loads."""
    [block] = [b for b in README.split("```json\n")[1:] if "on_record_eror" in b.split("```")[0]]
    config = json.loads(block.split("```")[0])
    config["domain"] = salesforce_emulator.base_url
    config["streams"] = {"contacts": CONTACT_STREAM}
    run = run_target(config, INPUT, tmp_path)
    [line] = error_lines(run)
    shown = line.split("| ERROR    | target-salesforce-out          | ")[1]
    assert shown in README
    assert run.returncode == EXIT_CONFIG
    config["on_record_error"] = config.pop("on_record_eror")
    run = run_target(config, INPUT, tmp_path)
    assert run.returncode == 0, run.stderr
