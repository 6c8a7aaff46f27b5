"""Helpers shared by the emulator tests: a logged-in requests session against an emulator."""

from __future__ import annotations

from typing import Any

import requests

from target_salesforce_out.emulator import Emulator

V = "/services/data/v62.0"


class Client:
    """A requests session with a bearer token for one emulator."""

    def __init__(self, emulator: Emulator, version: str = "62.0") -> None:
        self.emulator = emulator
        self.base = emulator.base_url
        self.data = f"{self.base}/services/data/v{version}"
        self.session = requests.Session()
        token = requests.post(
            f"{self.base}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "emulator-client",
                "client_secret": "emulator-secret",
                "refresh_token": "emulator-refresh-token",
            },
            timeout=10,
        ).json()["access_token"]
        self.token = token
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.data}{path}"
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, sobject: str, **fields: Any) -> str:
        response = self.post(f"/sobjects/{sobject}", json=fields)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def close(self) -> None:
        self.session.close()
