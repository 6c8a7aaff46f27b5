"""HTTPS for the emulator (``--tls``): a throwaway CA and a server certificate made at start.

Clients of Salesforce build ``https://`` URLs for the instance and the login hosts, and verify
the certificate. The emulator therefore makes its own certificate authority (never trusted by
anything but the clients told to trust it through its CA file, e.g. ``REQUESTS_CA_BUNDLE`` or
``SSL_CERT_FILE``) and a server certificate for ``127.0.0.1``, ``::1``, ``localhost`` and any
extra hostnames (a My Domain host such as ``acme.my.salesforce.com`` mapped to loopback in the
hosts file). Verification is never turned off anywhere: a client that does not trust the CA file
fails its handshake.

The certificates carry what strict verifiers require (Python 3.13's ``VERIFY_X509_STRICT``):
basic constraints, key usage, subject and authority key identifiers, and the names as subject
alternative names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")
# Long enough for any test run or CI job; the files are made anew at every start.
VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class TlsFiles:
    """Where one start's certificate files are.

    Attributes:
        ca_path: The CA certificate (PEM) clients trust.
        cert_path: The server certificate (PEM).
        key_path: The server's private key (PEM, readable by the owner only).
    """

    ca_path: Path
    cert_path: Path
    key_path: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "salesforce-emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for raw in (*LOOPBACK_NAMES, *LOOPBACK_ADDRESSES, *hostnames):
        host = raw.strip().strip("[]").lower()
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def check_hostname(hostname: str) -> str:
    """A ``--tls-hostname`` value, lower-cased, or ValueError when it cannot name a host.

    Args:
        hostname: A DNS name or an IP address.

    Returns:
        The hostname as it goes into the certificate.

    Raises:
        ValueError: For an empty value, a URL, or a name with a port or a path.
    """
    host = hostname.strip().lower()
    if not host or (any(c in host for c in "/:@ ") and not _is_ipv6(host)):
        raise ValueError(
            f"--tls-hostname {hostname!r}: give a bare host name such as "
            "acme.my.salesforce.com (no scheme, port or path)"
        )
    return host


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).version == 6
    except ValueError:
        return False


def make_tls_files(directory: Path, hostnames: Sequence[str] = ()) -> TlsFiles:
    """Make a CA and a server certificate for loopback and ``hostnames``; write them.

    Args:
        directory: Where to write ``ca.pem``, ``server.pem`` and ``server-key.pem`` (created
            when missing; existing files are replaced).
        hostnames: Extra DNS names or addresses the server certificate names.

    Returns:
        The files' paths.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    # Backdated a day so that a client clock slightly behind still accepts the certificate.
    not_before, not_after = now - dt.timedelta(days=1), now + VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("salesforce-emulator test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("salesforce-emulator"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hostnames)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)
    files.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    files.key_path.unlink(missing_ok=True)
    descriptor = os.open(files.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_pem)
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The server side's TLS settings: the certificate and key, TLS 1.2 or later.

    Args:
        files: The certificate files.

    Returns:
        An SSL context for ``wrap_socket(..., server_side=True)``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_path, files.key_path)
    return context
