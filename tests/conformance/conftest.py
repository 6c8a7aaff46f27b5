"""Conformance suite: client libraries nobody here wrote, against ``salesforce-emulator --tls``.

Fixtures every test file here can use (helper "emu-query"'s files too):

- ``emulator``: a fresh HTTPS emulator (the plugin's ``salesforce_emulator_tls`` fixture from
  target_salesforce_out/emulator/pytest_plugin.py), with ``REQUESTS_CA_BUNDLE`` and
  ``SSL_CERT_FILE`` set to its CA file for the test. That CA file is the only glue: each client
  is used as its own documentation shows, verification on.
- ``sf``: a ``simple_salesforce.Salesforce`` logged in with ``instance_url`` and a session id.
- ``my_domain``: ``(emulator, host)`` where ``host`` is a My Domain host
  (``acme.my.salesforce.com``) that resolves to the emulator for this test, as the hosts entry
  ``127.0.0.1 acme.my.salesforce.com`` and the emulator on port 443 do in CI (see the README's
  "Use the emulator in your own CI"); the certificate names that host, and JWT assertions are
  verified against ``jwt_private_key``'s public key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import urllib3.util.connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce

from target_salesforce_out.emulator import Emulator

MY_DOMAIN = "acme.my.salesforce.com"
API_VERSION = "62.0"


def _trust(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_path))
    monkeypatch.setenv("SSL_CERT_FILE", str(emulator.ca_path))
    return emulator


@pytest.fixture
def emulator(salesforce_emulator_tls: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The HTTPS emulator, its CA file trusted through the environment."""
    return _trust(salesforce_emulator_tls, monkeypatch)


@pytest.fixture
def sf(emulator: Emulator) -> Salesforce:
    """simple-salesforce with the emulator's base URL as instance_url and a session id."""
    return Salesforce(
        instance_url=emulator.base_url, session_id=emulator.access_token(), version=API_VERSION
    )


@pytest.fixture(scope="session")
def jwt_private_key() -> rsa.RSAPrivateKey:
    """The connected app's signing key (RS256, as Salesforce's JWT bearer flow requires)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwt_private_pem(jwt_private_key: rsa.RSAPrivateKey) -> str:
    """The signing key as the PEM text clients take (simple-salesforce's ``privatekey``)."""
    return jwt_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def my_domain(
    salesforce_emulator_factory: Callable[..., Emulator],
    monkeypatch: pytest.MonkeyPatch,
    jwt_private_key: rsa.RSAPrivateKey,
) -> Iterator[tuple[Emulator, str]]:
    """An HTTPS emulator reached as ``https://acme.my.salesforce.com`` (port 443).

    Stands in for the hosts entry and port 443 of the CI setup, inside this process only: a
    connection that urllib3 (requests) or anyio (httpx) opens to the My Domain host on 443 goes
    to the emulator's port. TLS still verifies the name ``acme.my.salesforce.com`` against the
    emulator's certificate.
    """
    public = jwt_private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    started = salesforce_emulator_factory(
        tls=True, tls_hostnames=[MY_DOMAIN], jwt_public_key=public
    )
    emu = _trust(started, monkeypatch)
    port = int(emu.base_url.rsplit(":", 1)[1])
    real = urllib3.util.connection.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        host, wanted = address
        if host == MY_DOMAIN and wanted == 443:
            return real(("127.0.0.1", port), *args, **kwargs)
        return real(address, *args, **kwargs)

    real_anyio = anyio.connect_tcp

    async def connect_tcp(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:
        if remote_host == MY_DOMAIN and remote_port == 443:
            return await real_anyio("127.0.0.1", port, **kwargs)
        return await real_anyio(remote_host, remote_port, **kwargs)

    # Both look the function up on the module at every connect.
    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    yield emu, MY_DOMAIN
