"""The ``salesforce-emulator`` console script: start, print the URL, serve, stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import requests

SCRIPT = Path(sys.executable).with_name("salesforce-emulator")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SCRIPT), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_start_token_and_sigterm(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(
        json.dumps([{"match": {"path_contains": "/limits"}, "on_calls": [1], "status": 503}])
    )
    process = start("--faults", str(faults), "--api-limit", "100")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        token = requests.post(
            f"{url}/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": "emulator-client",
                "client_secret": "emulator-secret",
                "username": "admin@emulator.test",
                "password": "emulator-passwordemulator-token",
            },
            timeout=10,
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert token["instance_url"] == url
        assert (
            requests.get(
                f"{url}/services/data/v62.0/limits", headers=headers, timeout=10
            ).status_code
            == 503
        )
        ok = requests.get(f"{url}/services/data/v62.0/limits", headers=headers, timeout=10)
        assert ok.headers["Sforce-Limit-Info"] == "api-usage=1/100"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert out == ""  # exactly one line was printed (already read)


def test_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [str(SCRIPT), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0" in result.stderr and "--allow-remote" in result.stderr


def test_bad_metadata_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "org.json"
    bad.write_text(json.dumps({"objects": {"Bad Name__c": {}}}))
    result = subprocess.run(
        [str(SCRIPT), "--port", "0", "--metadata", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "Bad Name__c" in result.stderr
