"""Login hosts and base URLs: what ``domain`` and ``instance_url`` may name, and where they lead.

The token endpoint is ``/services/oauth2/token`` on login.salesforce.com (production),
test.salesforce.com (sandbox) or the org's My Domain host (Salesforce Help, "OAuth Endpoints").
Every base URL is https, except plain http to a loopback host, which is how the emulator is
reached; a ``domain`` that cannot name a login host is one line that says what was meant.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from urllib.parse import urlsplit

from target_salesforce_out.errors import ConfigError

LOGIN_HOST = "https://login.salesforce.com"
SANDBOX_HOST = "https://test.salesforce.com"

_HOST = re.compile(r"(?i)^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
# "https//acme...", "https:/acme...", "https:acme...": a scheme whose "://" went missing.
_BROKEN_SCHEME = re.compile(r"(?i)^(https?)(:/?|//?)(?!/)")


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback addresses, the only hosts plain http may reach."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url_scheme(url: str, setting: str) -> list[str]:
    """Return problems with a base URL: only https, or http to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return []
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return []
    if parts.scheme == "http":
        return [
            f"{setting}: plain http:// is only allowed to loopback hosts "
            f"(127.0.0.1, localhost, ::1), not {parts.hostname!r}; use https://"
        ]
    return [f"{setting}: {url!r} is not an https:// URL"]


def resolve_login_url(domain: str | None, is_sandbox: bool | None) -> str:
    """Turn the ``domain``/``is_sandbox`` settings into the token endpoint's base URL."""
    value = (domain or ("test" if is_sandbox else "login")).strip().rstrip("/")
    lowered = value.lower()
    if lowered == "login":
        return LOGIN_HOST
    if lowered == "test":
        return SANDBOX_HOST
    if "://" in value:
        problems = check_url_scheme(value, "domain")
        if problems:
            raise ConfigError(problems[0])
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.netloc}"
    return f"https://{value}"


def jwt_audience(login_url: str) -> str:
    """``aud`` must be the generic login host even when the token endpoint is My Domain.

    Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration", names
    login.salesforce.com and test.salesforce.com; a sandbox My Domain host takes the sandbox
    one, as the Salesforce CLI does.
    """
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return SANDBOX_HOST
    return LOGIN_HOST


def _host_of(domain: str) -> str:
    host = urlsplit(domain).hostname if "://" in domain else domain
    return (host or "").lower()


def domain_is_sandbox(domain: str) -> bool | None:
    """True/False when the domain says which population it is; None when it cannot tell."""
    host = _host_of(domain)
    if host in {"test", "test.salesforce.com"} or host.endswith(".sandbox.my.salesforce.com"):
        return True
    if host in {"login", "login.salesforce.com"} or host.endswith(".my.salesforce.com"):
        return False
    return None


def is_generic_login(domain: str | None, is_sandbox: bool | None) -> bool:
    """True when the settings lead to login.salesforce.com or test.salesforce.com."""
    host = _host_of(str(domain or ("test" if is_sandbox else "login")))
    return host in {"login", "test", "login.salesforce.com", "test.salesforce.com"}


def domain_problems(domain: str) -> list[str]:
    """What keeps ``domain`` from naming a login host: a typo of login/test, a broken URL."""
    value = domain.strip()
    lowered = value.lower().rstrip("/")
    if lowered in {"login", "test"}:
        return []
    if "://" in value:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            return [f"domain {domain!r} has a port that is not a number"]
        if parts.scheme.lower() in {"http", "https"} and not parts.hostname:
            return [f"domain {domain!r} has no host name after {parts.scheme}://"]
        if parts.scheme.lower() not in {"http", "https"}:
            close = difflib.get_close_matches(parts.scheme.lower(), ["https", "http"], n=1)
            fixed = f"{close[0]}://{value.split('://', 1)[1]}" if close else None
            hint = f"; did you mean {fixed!r}?" if fixed else "; use https://"
            return [f"domain {domain!r} is not an http(s):// URL{hint}"]
        return check_url_scheme(value, "domain")
    broken = _BROKEN_SCHEME.match(value)
    if broken:
        fixed = f"{broken.group(1).lower()}://{value[broken.end() :]}"
        return [f"domain {domain!r} is not a valid URL; did you mean {fixed!r}?"]
    host, _, port = value.rstrip("/").partition(":")
    if not _HOST.match(host) or (port and not port.isdigit()) or "/" in value.rstrip("/"):
        return [
            f"domain {domain!r} is not login, test, a host name (acme.my.salesforce.com) "
            "or a URL (https://acme.my.salesforce.com)"
        ]
    if "." not in host and host.lower() != "localhost":
        close = difflib.get_close_matches(host.lower(), ["login", "test"], n=1, cutoff=0.6)
        guess = close[0] if close else f"{host}.my.salesforce.com"
        return [
            f"domain {domain!r} is not login, test or a full host name; did you mean {guess!r}?"
        ]
    return []
