"""The Authenticator: logs in with the configured grant, once per token, for every thread.

The token response's ``instance_url`` is the only base URL used for data calls (Salesforce
Help, "OAuth Endpoints"). Tokens have no ``expires_in``: the client learns of expiry from a 401
and calls :meth:`Authenticator.refresh`, which several sink threads may do at once, so only the
first one goes to the token endpoint. What each flow sends is its grant's business
(``grants.py``); this module only posts it.

A failed login is one line that says what to fix: the OAuth ``error``/``error_description``
pair (Salesforce Help, "OAuth 2.0 Authorization Errors") with a hint for the usual cause, or,
when the login host cannot be reached, why in plain words (refused, TLS, DNS, timeout), never
the HTTP library's text. Retries of an unreachable host are silent.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import backoff
import requests

from target_salesforce_out.errors import AuthenticationError, ConfigError
from target_salesforce_out.grants import GRANTS, GivenToken, grant_for
from target_salesforce_out.login_hosts import check_url_scheme, is_loopback_host, resolve_login_url

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a URL path, not a secret
LOGIN_TRIES = 4

# Hints for the errors about the connected app itself, whatever the flow.
_CLIENT_HINTS = {
    "invalid_client_id": (
        "client_id is not the consumer key of a connected app this login host knows (an "
        "app of a sandbox needs domain test or the sandbox's My Domain)"
    ),
    "invalid_client": "client_secret is not the consumer secret of the client_id's app",
}


def login_hint(config: dict[str, Any], flow: str, error: str, description: str) -> str:
    """What usually causes an OAuth error of the token endpoint, and what to do about it."""
    return GRANTS[flow].login_hint(config, error, description) or _CLIENT_HINTS.get(error, "")


@dataclass(frozen=True)
class Session:
    """An access token and the base URL it is valid for."""

    access_token: str
    instance_url: str


class Authenticator:
    """Obtains access tokens with the configured grant; thread-safe."""

    def __init__(self, config: dict[str, Any], http: requests.Session, timeout: float) -> None:
        """Read the credentials from ``config``; no network call happens here."""
        grant = grant_for(config)
        if grant is None:
            raise ConfigError("no credentials configured")
        self.flow = grant.name
        self._config = config
        self._http = http
        self._timeout = timeout
        self.login_url = resolve_login_url(config.get("domain"), config.get("is_sandbox"))
        self._grant = grant(config, self.login_url)
        self._lock = threading.Lock()
        self._session: Session | None = None
        self.logins = 0

    def session(self) -> Session:
        """Return the current session, logging in on first use."""
        with self._lock:
            if self._session is None:
                self._session = self._login()
            return self._session

    def refresh(self, stale_token: str) -> Session:
        """Replace ``stale_token`` after a 401, unless another thread already did."""
        with self._lock:
            if self._session is not None and self._session.access_token != stale_token:
                return self._session
            stuck = self._grant.cannot_renew()
            if stuck is not None:
                raise stuck
            self._session = self._login()
            return self._session

    def _login(self) -> Session:
        request = self._grant.token_request()
        if isinstance(request, GivenToken):
            return self._checked(request.access_token, request.instance_url)
        response = self._post_token(request.body, request.basic_auth)
        self.logins += 1
        payload = _json_object(response)
        if response.status_code != 200 or "access_token" not in payload:
            error = str(payload.get("error") or f"HTTP {response.status_code}")
            description = str(payload.get("error_description") or "no error description")
            raise AuthenticationError(
                error, description, login_hint(self._config, self.flow, error, description)
            )
        self._grant.accept(payload)
        return self._checked(str(payload["access_token"]), payload.get("instance_url"))

    def _post_token(self, body: dict[str, str], auth: tuple[str, str] | None) -> requests.Response:
        """POST to the token endpoint, retrying (silently) what cannot be a credentials problem.

        A TLS failure is not retried: the same handshake fails the same way.
        """

        @backoff.on_exception(
            backoff.expo,
            _LoginUnavailableError,
            max_tries=LOGIN_TRIES,
            jitter=backoff.full_jitter,
            factor=0.5,
            giveup=lambda exc: exc.kind == "tls",
            logger=None,
        )
        def post() -> requests.Response:
            try:
                response = self._http.post(
                    self.login_url + TOKEN_PATH,
                    data=body,
                    auth=auth,
                    headers={"Accept": "application/json"},
                    timeout=self._timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _LoginUnavailableError(connection_failure_kind(exc), exc) from None
            except OSError as exc:
                # requests raises a bare OSError when REQUESTS_CA_BUNDLE (or a CA bundle it
                # was given) names a file that is not there: a setup mistake, not an outage.
                if "CA certificate bundle" in str(exc):
                    raise ConfigError(
                        f"{exc}: point REQUESTS_CA_BUNDLE at an existing CA file (the emulator "
                        "prints its CA file's path on its second line with --tls), or unset it"
                    ) from None
                raise
            if response.status_code >= 500:
                raise _LoginUnavailableError("server", None, response.status_code)
            return response

        try:
            return post()
        except _LoginUnavailableError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: _LoginUnavailableError) -> AuthenticationError:
        """One line: which host, what went wrong in plain words, and what to check."""
        url = self.login_url
        parts = urlsplit(url)
        where = parts.netloc
        domain = str(self._config.get("domain") or "")
        tries = "" if exc.kind == "tls" else f" (tried {LOGIN_TRIES} times)"
        loopback = is_loopback_host(parts.hostname)
        if exc.kind == "refused":
            hint = (
                "Is the emulator running? Start it with `salesforce-emulator --port "
                f"{parts.port}`, or correct the port in domain"
                if loopback
                else "Check domain, and that this machine may reach it (firewall, proxy)"
            )
            return AuthenticationError(
                "connection refused", f"nothing is listening at {url}{tries}", hint
            )
        if exc.kind == "tls":
            if loopback and exc.plain_http_answer():
                implied = "" if "://" in domain else f"domain {domain!r} has no scheme, so "
                return AuthenticationError(
                    "TLS handshake failed",
                    f"{url} does not speak https",
                    f"{implied}https:// was used; the emulator speaks plain http (unless "
                    f"started with --tls): set domain to http://{where}",
                )
            return AuthenticationError(
                "TLS handshake failed",
                f"{url}: {exc.tls_reason()}",
                "To trust a private CA (a proxy that re-signs TLS, an emulator started with "
                "--tls), point REQUESTS_CA_BUNDLE at its certificate; verification is never "
                "turned off",
            )
        if exc.kind == "dns":
            return AuthenticationError(
                "host not found",
                f"{parts.hostname} does not resolve{tries}",
                "Check domain: login, test, or a My Domain host such as acme.my.salesforce.com",
            )
        if exc.kind == "timeout":
            return AuthenticationError(
                "no answer", f"{url} did not answer within {self._timeout:g} s{tries}"
            )
        if exc.kind == "server":
            return AuthenticationError(
                "server error",
                f"{url}{TOKEN_PATH} answered HTTP {exc.status}{tries}",
                "Salesforce may be down or in maintenance (status.salesforce.com); try later",
            )
        hint = ""
        if loopback and parts.scheme == "http":
            # An emulator started with --tls closes a plain-http connection unanswered.
            hint = f"If the emulator was started with --tls, set domain to https://{where}"
        return AuthenticationError(
            "connection failed", f"{url}: {CONNECTION_FAILURES[exc.kind]}{tries}", hint
        )

    @staticmethod
    def _checked(token: str, instance_url: object) -> Session:
        if not isinstance(instance_url, str) or not instance_url:
            raise AuthenticationError("invalid_response", "the token response has no instance_url")
        url = instance_url.rstrip("/")
        problems = check_url_scheme(url, "instance_url")
        if problems:
            raise ConfigError(problems[0])
        return Session(token, url)


class _LoginUnavailableError(Exception):
    """The token endpoint did not answer, or answered with a server error."""

    def __init__(self, kind: str, cause: Exception | None, status: int | None = None) -> None:
        """``kind`` as :func:`connection_failure_kind` says, or ``server`` for a 5xx answer."""
        super().__init__(kind)
        self.kind = kind
        self.cause = cause
        self.status = status

    def plain_http_answer(self) -> bool:
        """True when the server answered the TLS greeting in plain HTTP (no TLS at all)."""
        reasons = {
            item.reason
            for item in _causes(self.cause)
            if isinstance(item, ssl.SSLError) and not isinstance(item, ssl.SSLCertVerificationError)
        }
        return bool(reasons & _PLAIN_HTTP_REASONS)

    def tls_reason(self) -> str:
        """Why the handshake failed, from the ssl module's own reason (no library wrapping)."""
        for item in _causes(self.cause):
            if isinstance(item, ssl.SSLCertVerificationError):
                return f"its certificate could not be verified ({item.verify_message})"
            if isinstance(item, ssl.SSLError) and item.reason:
                return f"the handshake failed ({item.reason.lower().replace('_', ' ')})"
        return "the handshake failed"


# OpenSSL's reasons for a handshake answered by a plain-HTTP server ("HTTP/1.0 400 ...").
_PLAIN_HTTP_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "UNKNOWN_PROTOCOL"}
)

# What each kind of connection failure means, in words a user can act on.
CONNECTION_FAILURES = {
    "refused": "connection refused (nothing is listening there)",
    "tls": "the TLS handshake failed",
    "dns": "the host name does not resolve",
    "timeout": "no answer in time",
    "closed": "the connection was closed without an answer",
    "other": "the connection failed",
}


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (requests wraps urllib3, which wraps the socket error)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]


def connection_failure_kind(exc: BaseException) -> str:
    """``refused``, ``tls``, ``dns``, ``timeout``, ``closed`` or ``other``."""
    causes = list(_causes(exc))
    checks = (
        ("tls", (ssl.SSLError, requests.exceptions.SSLError)),
        ("refused", (ConnectionRefusedError,)),
        ("dns", (socket.gaierror,)),
        ("timeout", (TimeoutError, requests.Timeout)),
        ("closed", (ConnectionResetError, http.client.RemoteDisconnected)),
    )
    for kind, types in checks:
        if any(isinstance(item, types) for item in causes):
            return kind
    return "other"


def connection_failure(exc: BaseException) -> str:
    """A failed connection in plain words (never the HTTP library's text or class names)."""
    return CONNECTION_FAILURES[connection_failure_kind(exc)]


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
