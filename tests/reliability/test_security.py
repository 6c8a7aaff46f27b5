"""Security: secrets stay out of every output, TLS is always verified, plain http only to
loopback, SOQL literals only through the escaping function, key material never logged.

``helpers.run_target`` already scans stdout, stderr, the report and the dead-letter file of
every run in the suite for the secrets in the run's config and ``TARGET_SALESFORCE_OUT_*``
environment; the first tests here check that the scan itself works on both paths.
"""

from __future__ import annotations

import ast
import datetime as dt
import http.server
import ipaddress
import json
import os
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from helpers import (
    CONTACT_PROPS,
    CONTACT_STREAM,
    assert_no_secrets,
    base_config,
    contacts,
    record,
    run_target,
    schema,
    secret_values,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import target_salesforce_out
from target_salesforce_out.auth import resolve_login_url
from target_salesforce_out.errors import ConfigError
from target_salesforce_out.soql import quote

PACKAGE = Path(target_salesforce_out.__file__).parent


def _pem_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# -- the secret scan itself ---------------------------------------------------------------------


def test_the_scan_covers_config_and_env_secrets_and_catches_a_leak():
    key = _pem_key()
    env = {
        "TARGET_SALESFORCE_OUT_CLIENT_SECRET": "env-secret-1",
        "TARGET_SALESFORCE_OUT_PRIVATE_KEY": key,
        "TARGET_SALESFORCE_OUT_DOMAIN": "acme.my.salesforce.com",  # not a secret
        "PATH": "/usr/bin",
    }
    config = {"refresh_token": "config-refresh-1", "username": "not-a-secret"}
    found = secret_values(config, env)
    assert "env-secret-1" in found and "config-refresh-1" in found
    assert key.splitlines()[3] in found  # private keys are matched line by line
    assert "acme.my.salesforce.com" not in found and "not-a-secret" not in found
    for leak in ("x env-secret-1 x", "x config-refresh-1 x", key):
        with pytest.raises(AssertionError, match="a secret value reached"):
            assert_no_secrets(config, env, ["clean", leak])


def test_env_config_secrets_never_reach_any_output(salesforce_emulator, tmp_path):
    stream = json.dumps({"contacts": CONTACT_STREAM})
    env = {
        **os.environ,
        "LOGLEVEL": "DEBUG",  # the most talkative run
        "TARGET_SALESFORCE_OUT_DOMAIN": salesforce_emulator.base_url,
        "TARGET_SALESFORCE_OUT_CLIENT_ID": "emulator-client",
        "TARGET_SALESFORCE_OUT_CLIENT_SECRET": "emulator-secret",
        "TARGET_SALESFORCE_OUT_REFRESH_TOKEN": "emulator-refresh-token",
        "TARGET_SALESFORCE_OUT_STREAMS": stream,
        "TARGET_SALESFORCE_OUT_ON_RECORD_ERROR": "continue",
        "TARGET_SALESFORCE_OUT_REPORT_PATH": str(tmp_path / "report.json"),
        "TARGET_SALESFORCE_OUT_DEAD_LETTER_PATH": str(tmp_path / "dead.jsonl"),
    }
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(3),
        record("contacts", {"contact_ref": "C-x", "last_name": None}),
    ]
    # run_target scans every output for the four secret env values.
    run = run_target(None, messages, tmp_path, args=["--config", "ENV"], env=env)
    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr and len(run.dead_letters) == 1
    assert len(salesforce_emulator.records("Contact")) == 3

    # The same credentials, one wrong: the login failure names the problem, not the value.
    env["TARGET_SALESFORCE_OUT_CLIENT_SECRET"] = "wrong-env-secret-42"
    run = run_target(None, messages, tmp_path, args=["--config", "ENV"], env=env)
    assert run.returncode == 2  # a login or configuration error
    assert "Salesforce login failed" in run.stderr


def test_access_tokens_and_credentials_stay_out_of_dead_letters_and_report(
    salesforce_emulator_factory, tmp_path
):
    emulator = salesforce_emulator_factory(token_ttl_calls=2)
    issued: list[str] = []
    issue = emulator.app.tokens.issue

    def recording_issue(*args, **kwargs):
        token = issue(*args, **kwargs)
        issued.append(token)
        return token

    emulator.app.tokens.issue = recording_issue
    config = base_config(
        emulator.base_url,
        tmp_path,
        on_record_error="continue",
        streams={"contacts": CONTACT_STREAM},
    )
    messages = [
        schema("contacts", CONTACT_PROPS, ["contact_ref"]),
        *contacts(450),
        record("contacts", {"contact_ref": "C-null", "last_name": None}),
        record("contacts", {"contact_ref": "C-long", "last_name": "L" * 81}),
    ]
    run = run_target(config, messages, tmp_path, env={**os.environ, "LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr
    assert len(issued) >= 2  # the short token lifetime forced a login again
    dead_text = (tmp_path / "dead.jsonl").read_text()
    outputs = [run.stdout, run.stderr, dead_text, json.dumps(run.report)]
    for token in issued:
        assert all(token not in text for text in outputs)
        assert all(token.split("!")[1] not in text for text in outputs)
    # A dead letter holds the record and Salesforce's answer, nothing about the connection.
    allowed = {"stream", "sobject", "operation", "record", "errorCode", "message", "fields"}
    allowed |= {"source", "time", "job_id", "run_id", "schema", "key_properties"}
    for dead in run.dead_letters:
        assert set(dead) <= allowed
    assert {d["record"]["contact_ref"] for d in run.dead_letters} == {"C-null", "C-long"}
    assert "Authorization" not in dead_text and "Bearer" not in dead_text


# -- private keys --------------------------------------------------------------------------------


def test_a_broken_private_key_is_reported_without_its_contents(salesforce_emulator, tmp_path):
    good = _pem_key().splitlines()
    # A key whose base64 body is damaged: the library's error could quote it.
    broken = "\n".join([good[0], *(line[::-1] for line in good[1:-1]), good[-1]])
    config = {
        "domain": salesforce_emulator.base_url,
        "client_id": "emulator-client",
        "username": "admin@emulator.test",
        "private_key": broken,
        "streams": {"contacts": CONTACT_STREAM},
    }
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1)]
    run = run_target(config, messages, tmp_path)  # scans every line of the key
    assert run.returncode == 2  # a login or configuration error
    assert "private key is not a valid PEM-encoded RSA private key" in run.stderr

    key_file = tmp_path / "server.key"
    key_file.write_text(broken)
    del config["private_key"]
    config["private_key_file"] = str(key_file)
    run = run_target(config, messages, tmp_path)
    assert run.returncode == 2  # a login or configuration error
    assert "private key is not a valid PEM-encoded RSA private key" in run.stderr
    # private_key_file is a path, not a secret setting: scan for the file's contents here.
    for line in broken.splitlines()[1:-1]:
        assert line not in run.stderr and line not in run.stdout


def test_a_key_file_the_org_does_not_trust_is_not_logged(salesforce_emulator_factory, tmp_path):
    trusted = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        trusted.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    emulator = salesforce_emulator_factory(jwt_public_key=public)
    untrusted = _pem_key()
    key_file = tmp_path / "server.key"
    key_file.write_text(untrusted)
    config = {
        "domain": emulator.base_url,
        "client_id": "emulator-client",
        "username": "admin@emulator.test",
        "private_key_file": str(key_file),
        "streams": {"contacts": CONTACT_STREAM},
    }
    run = run_target(
        config,
        [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1)],
        tmp_path,
        env={**os.environ, "LOGLEVEL": "DEBUG"},
    )
    assert run.returncode == 2  # a login or configuration error
    assert "invalid_grant: invalid assertion" in run.stderr
    for line in untrusted.splitlines()[1:-1]:
        assert line not in run.stderr and line not in run.stdout
    # Nor the signed assertion (a JWT starts with the base64 of '{"alg":"RS256"' or similar).
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", run.stderr)


# -- TLS ------------------------------------------------------------------------------------------


def test_no_tls_verification_switch_anywhere_in_the_package():
    switches = re.compile(
        r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context"
        r"|disable_warnings|\.verify\s*=|PYTHONHTTPSVERIFY|CURL_CA_BUNDLE"
    )
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        offenders += [f"{path.name}: {m.group(0)}" for m in switches.finditer(source)]
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.keyword) and node.arg == "verify":
                offenders.append(f"{path.name}:{node.lineno}: verify= argument")
    assert offenders == []


class _FakeOrg(http.server.BaseHTTPRequestHandler):
    """Answers the token endpoint with a configurable body; remembers what it was asked."""

    token_body: ClassVar[dict] = {}
    seen: ClassVar[list[str]] = []

    def do_POST(self):
        self.seen.append(f"POST {self.path}")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, self.token_body)

    def do_GET(self):
        self.seen.append(f"GET {self.path}")
        self._send(404, [{"errorCode": "NOT_FOUND", "message": "fake org"}])

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def fake_org(token_body: dict, tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list]]:
    seen: list[str] = []
    handler = type("Handler", (_FakeOrg,), {"token_body": token_body, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def test_a_self_signed_certificate_is_refused(self_signed, tmp_path):
    context, cert_path = self_signed
    env = {k: v for k, v in os.environ.items() if k not in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}}
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1)]
    with fake_org({"access_token": "fake-token-1", "instance_url": "x"}, context) as (url, seen):
        config = base_config(url, tmp_path, streams={"contacts": CONTACT_STREAM})
        run = run_target(config, messages, tmp_path, env=env)
        assert run.returncode == 2  # a login or configuration error
        assert "certificate could not be verified" in run.stderr
        assert seen == []  # no request (and no credential) got through the handshake

        # The control: trusting that certificate lets the same run reach the token endpoint.
        run = run_target(
            config, messages, tmp_path, env={**env, "REQUESTS_CA_BUNDLE": str(cert_path)}
        )
        assert run.returncode == 2  # the fake org has no describe
        assert seen[0] == "POST /services/oauth2/token"


# -- plain http only to loopback -----------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    [
        "http://acme.my.salesforce.com",
        "HTTP://acme.my.salesforce.com",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io:8085",
        "http://127.0.0.1@evil.example",
        "http://evil.example#@127.0.0.1",
        "http://2130706433",
        "ftp://acme.my.salesforce.com",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(domain):
    with pytest.raises(ConfigError):
        resolve_login_url(domain, None)


def test_http_domain_and_instance_url_are_config_errors_before_any_call(tmp_path):
    messages = [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1)]
    config = base_config(
        "http://acme.my.salesforce.com", tmp_path, streams={"contacts": CONTACT_STREAM}
    )
    run = run_target(config, messages, tmp_path)
    assert run.returncode != 0
    assert "domain: plain http:// is only allowed to loopback hosts" in run.stderr

    config = {
        "access_token": "00Dx!not-a-real-token",
        "instance_url": "http://acme.my.salesforce.com",
        "streams": {"contacts": CONTACT_STREAM},
    }
    run = run_target(config, messages, tmp_path)
    assert run.returncode != 0
    assert "instance_url: plain http:// is only allowed to loopback hosts" in run.stderr


def test_a_token_response_pointing_to_plain_http_elsewhere_is_refused(tmp_path):
    token = {"access_token": "00Dx!issued-token-7", "instance_url": "http://acme.my.salesforce.com"}
    with fake_org(token) as (url, seen):
        config = base_config(url, tmp_path, streams={"contacts": CONTACT_STREAM})
        run = run_target(
            config, [schema("contacts", CONTACT_PROPS, ["contact_ref"]), *contacts(1)], tmp_path
        )
    assert run.returncode == 2  # a login or configuration error
    assert "instance_url: plain http:// is only allowed to loopback hosts" in run.stderr
    assert "acme.my.salesforce.com" in run.stderr
    assert seen == ["POST /services/oauth2/token"]  # the token never went anywhere else
    assert "issued-token-7" not in run.stderr


# -- SOQL ------------------------------------------------------------------------------------------

INJECTIONS = [
    "x' OR Name != '",
    "Acme' OR Name LIKE '%",
    "\\' OR Name != \\'",
    "Acme\\",
    "%",
    "_cme",
    "' OR Id != null OR Name = '",
    "Acme'--",
    "Acme\nOR Name != ''",
]


def test_injection_attempts_through_match_fields_match_only_the_exact_record(
    salesforce_emulator, tmp_path
):
    props = {"name": {"type": "string"}, "industry": {"type": "string"}}

    def load(operation, rows):
        stream = {"sobject": "Account", "operation": operation, "match_fields": ["Name"]}
        config = base_config(
            salesforce_emulator.base_url,
            tmp_path,
            streams={"accounts": stream},
            on_record_error="continue",
        )
        messages = [schema("accounts", props)]
        messages += [record("accounts", {"name": n, "industry": i}) for n, i in rows]
        run = run_target(config, messages, tmp_path)
        assert run.returncode == 0, run.stderr
        return run

    load("upsert", [("Acme", "Original"), ("Globex", "Original"), ("O'Brien & Co", "Original")])
    # Updating by the injection strings finds nothing: each is compared as one literal.
    run = load("update", [(name, "Hacked") for name in INJECTIONS])
    assert [d["errorCode"] for d in run.dead_letters] == ["NOT_FOUND"] * len(INJECTIONS)
    assert {r["Industry"] for r in salesforce_emulator.records("Account")} == {"Original"}
    # An exact name with a quote matches its one record.
    load("update", [("O'Brien & Co", "Changed")])
    # Upserting by them creates records with exactly those names, touching no other.
    load("upsert", [(name, "New") for name in INJECTIONS])
    stored = {r["Name"]: r["Industry"] for r in salesforce_emulator.records("Account")}
    assert stored == {
        "Acme": "Original",
        "Globex": "Original",
        "O'Brien & Co": "Changed",
        **dict.fromkeys(INJECTIONS, "New"),
    }


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=50))
def test_quote_makes_a_literal_that_soql_reads_back_as_the_same_text(value):
    from target_salesforce_out.emulator.soql import _tokenize, unescape_string

    tokens = _tokenize(f"SELECT Id FROM Account WHERE Name = {quote(value)}")
    # The literal is one string token and nothing follows it: no way out of the quotes.
    assert [t.kind for t in tokens][-3:] == ["op", "string", "eof"]
    assert unescape_string(tokens[-2].text) == tokens[-2].value == value


def test_soql_text_outside_soql_py_interpolates_only_quoted_literals():
    """Every f-string that builds SOQL outside soql.py may only insert quote()/literal().

    The Bulk sink's on-disk SQLite index builds ``IN (?,?,...)`` placeholder lists (``marks``);
    its values are bound as parameters, so those are allowed too.
    """
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "emulator" in path.parts or path.name == "soql.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if not re.search(r"\b(SELECT|WHERE|FROM)\b", text):
                continue
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    call = value.value
                    name = getattr(getattr(call, "func", None), "id", None)
                    placeholders = isinstance(call, ast.Name) and call.id == "marks"
                    if name not in {"quote", "literal"} and not placeholders:
                        offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(call)}")
    assert offenders == []


def test_the_emulator_query_endpoint_agrees_with_quote(salesforce_emulator):
    # The same check over HTTP for the awkward cases, against the org's own parser.
    token = salesforce_emulator.access_token()
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{salesforce_emulator.base_url}/services/data/v62.0"
    names = ["plain", *INJECTIONS, "tab\there", 'double "q"', "Zoë 東京"]
    for name in names:
        response = requests.post(
            f"{base}/sobjects/Account", json={"Name": name}, headers=headers, timeout=10
        )
        assert response.status_code == 201, response.text
    for name in names:
        soql = f"SELECT Name FROM Account WHERE Name = {quote(name)}"
        rows = requests.get(f"{base}/query", params={"q": soql}, headers=headers, timeout=10)
        assert rows.status_code == 200, rows.text
        assert [r["Name"] for r in rows.json()["records"]] == [name]
