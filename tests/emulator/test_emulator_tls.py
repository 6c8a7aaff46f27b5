"""``--tls``: HTTPS with a certificate made at start, its CA file printed and served."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509

from target_salesforce_out.emulator import Emulator

SCRIPT = Path(sys.executable).with_name("salesforce-emulator")


def _names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(alt.get_values_for_type(x509.DNSName))
    return dns | {str(a) for a in alt.get_values_for_type(x509.IPAddress)}


def test_cli_prints_url_then_ca_file_and_serves_https(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            str(SCRIPT),
            "--port",
            "0",
            "--tls",
            "--tls-hostname",
            "acme.my.salesforce.com",
            "--tls-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        ca_file = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        assert ca_file == str(tmp_path / "ca.pem")
        versions = requests.get(f"{url}/services/data/", verify=ca_file, timeout=10)
        assert versions.status_code == 200
        served = requests.get(f"{url}/__emulator/ca.pem", verify=ca_file, timeout=10)
        assert served.content == Path(ca_file).read_bytes()
        assert {"acme.my.salesforce.com", "localhost", "127.0.0.1", "::1"} <= _names(
            tmp_path / "server.pem"
        )
        assert (tmp_path / "server-key.pem").stat().st_mode & 0o077 == 0
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert out == ""  # exactly two lines were printed (already read)


def test_cli_refuses_a_url_as_tls_hostname() -> None:
    result = subprocess.run(
        [str(SCRIPT), "--port", "0", "--tls", "--tls-hostname", "https://acme.my.salesforce.com"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--tls-hostname 'https://acme.my.salesforce.com'" in result.stderr


def test_token_instance_url_is_https(salesforce_emulator_tls: Emulator) -> None:
    emulator = salesforce_emulator_tls
    answer = requests.post(
        f"{emulator.base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "emulator-client",
            "client_secret": "emulator-secret",
        },
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert answer.json()["instance_url"] == emulator.base_url
    assert emulator.base_url.startswith("https://127.0.0.1:")


def test_certificate_names_loopback_hosts(salesforce_emulator_factory, tmp_path: Path) -> None:
    emulator = salesforce_emulator_factory(tls=True, tls_dir=tmp_path)
    assert {"localhost", "::1", "127.0.0.1"} <= _names(tmp_path / "server.pem")
    port = emulator.base_url.rsplit(":", 1)[1]
    answer = requests.get(
        f"https://localhost:{port}/services/data/", verify=str(emulator.ca_path), timeout=10
    )
    assert answer.status_code == 200


def test_untrusted_and_plain_http_clients_fail_and_the_server_goes_on(
    salesforce_emulator_tls: Emulator,
) -> None:
    emulator = salesforce_emulator_tls
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{emulator.base_url}/services/data/", timeout=10)  # system CAs only
    plain = emulator.base_url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{plain}/services/data/", timeout=10)
    answer = requests.get(
        f"{emulator.base_url}/services/data/", verify=str(emulator.ca_path), timeout=10
    )
    assert answer.status_code == 200


def test_temporary_ca_directory_is_removed_at_stop() -> None:
    emulator = Emulator(tls=True).start()
    ca_path = emulator.ca_path
    assert ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    emulator.stop()
    assert not ca_path.parent.exists()


def test_plain_emulator_has_no_ca(salesforce_emulator: Emulator) -> None:
    with pytest.raises(RuntimeError, match="tls=True"):
        _ = salesforce_emulator.ca_path
    answer = requests.get(f"{salesforce_emulator.base_url}/__emulator/ca.pem", timeout=10)
    assert answer.status_code == 404


def test_ca_is_a_certificate_authority(salesforce_emulator_tls: Emulator) -> None:
    ca = x509.load_pem_x509_certificate(salesforce_emulator_tls.ca_path.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True
