"""Login host resolution and the five OAuth flows.

The token response's ``instance_url`` is the only base URL used for data calls. Tokens have no
``expires_in``: the client learns of expiry from a 401 and calls :meth:`Authenticator.refresh`,
which several sink threads may do at once, so only the first one goes to the token endpoint.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import backoff
import jwt
import requests

from target_salesforce_out.errors import AuthenticationError, ConfigError
from target_salesforce_out.settings import check_url_scheme, infer_auth_flow

LOGIN_HOST = "https://login.salesforce.com"
SANDBOX_HOST = "https://test.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a URL path, not a secret
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce asks for a JWT expiry no more than 3 minutes ahead.
JWT_LIFETIME_SECONDS = 180
LOGIN_TRIES = 4

_REFRESH_HINT = (
    "The refresh token was revoked or expired. Salesforce keeps at most 5 approvals (refresh "
    "tokens) per user per connected app and silently revokes the oldest when a 6th is granted, "
    "so another login with the same user and app (a second deployment, a CI job, a developer's "
    "laptop) may have evicted this one; connected-app refresh token policies can also expire it. "
    "Authorize again to get a new refresh token, or switch to auth_flow jwt_bearer or "
    "client_credentials, which issue no refresh tokens and are not subject to that limit."
)


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
    """``aud`` must be the generic login host even when the token endpoint is My Domain."""
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return SANDBOX_HOST
    return LOGIN_HOST


@dataclass(frozen=True)
class Session:
    """An access token and the base URL it is valid for."""

    access_token: str
    instance_url: str


class Authenticator:
    """Obtains access tokens with the configured flow; thread-safe."""

    def __init__(self, config: dict[str, Any], http: requests.Session, timeout: float) -> None:
        """Read the credentials from ``config``; no network call happens here."""
        flow = infer_auth_flow(config)
        if flow is None:
            raise ConfigError("no credentials configured")
        self.flow = flow
        self._config = config
        self._http = http
        self._timeout = timeout
        self.login_url = resolve_login_url(config.get("domain"), config.get("is_sandbox"))
        self._refresh_token: str | None = config.get("refresh_token")
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
            if self.flow == "access_token":
                raise AuthenticationError(
                    "INVALID_SESSION_ID",
                    "the configured access_token expired or was revoked",
                    "Get a new token (for example with `sf org display`) or configure a flow "
                    "that can log in again (jwt_bearer, client_credentials, refresh_token).",
                )
            self._session = self._login()
            return self._session

    def _login(self) -> Session:
        if self.flow == "access_token":
            return self._checked(str(self._config["access_token"]), self._config["instance_url"])
        body = self._grant_body()
        auth = None
        if self.flow == "client_credentials":
            auth = (str(self._config["client_id"]), str(self._config["client_secret"]))
        response = self._post_token(body, auth)
        self.logins += 1
        payload = _json_object(response)
        if response.status_code != 200 or "access_token" not in payload:
            error = str(payload.get("error") or f"HTTP {response.status_code}")
            description = str(payload.get("error_description") or "no error description")
            hint = ""
            if self.flow == "refresh_token" and error == "invalid_grant":
                hint = _REFRESH_HINT
            raise AuthenticationError(error, description, hint)
        if payload.get("refresh_token"):
            # Refresh token rotation: the old one is now invalid.
            self._refresh_token = str(payload["refresh_token"])
        return self._checked(str(payload["access_token"]), payload.get("instance_url"))

    def _post_token(self, body: dict[str, str], auth: tuple[str, str] | None) -> requests.Response:
        """POST to the token endpoint, retrying only what cannot be a credentials problem."""

        @backoff.on_exception(
            backoff.expo,
            _LoginUnavailableError,
            max_tries=LOGIN_TRIES,
            jitter=backoff.full_jitter,
            factor=0.5,
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
                raise _LoginUnavailableError(type(exc).__name__) from None
            if response.status_code >= 500:
                raise _LoginUnavailableError(f"HTTP {response.status_code}")
            return response

        try:
            return post()
        except _LoginUnavailableError as exc:
            raise AuthenticationError(
                "login_unavailable",
                f"could not reach {self.login_url}{TOKEN_PATH} after {LOGIN_TRIES} tries ({exc})",
            ) from None

    @staticmethod
    def _checked(token: str, instance_url: object) -> Session:
        if not isinstance(instance_url, str) or not instance_url:
            raise AuthenticationError("invalid_response", "the token response has no instance_url")
        url = instance_url.rstrip("/")
        problems = check_url_scheme(url, "instance_url")
        if problems:
            raise ConfigError(problems[0])
        return Session(token, url)

    def _grant_body(self) -> dict[str, str]:
        cfg = self._config
        if self.flow == "refresh_token":
            body = {
                "grant_type": "refresh_token",
                "client_id": str(cfg["client_id"]),
                "refresh_token": str(self._refresh_token),
            }
            if cfg.get("client_secret"):
                body["client_secret"] = str(cfg["client_secret"])
            return body
        if self.flow == "password":
            return {
                "grant_type": "password",
                "client_id": str(cfg["client_id"]),
                "client_secret": str(cfg["client_secret"]),
                "username": str(cfg["username"]),
                "password": str(cfg["password"]) + str(cfg.get("security_token") or ""),
            }
        if self.flow == "client_credentials":
            return {"grant_type": "client_credentials"}
        return {"grant_type": JWT_GRANT, "assertion": self._assertion()}

    def _assertion(self) -> str:
        cfg = self._config
        key = cfg.get("private_key")
        if not key:
            path = Path(str(cfg["private_key_file"])).expanduser()
            try:
                key = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"private_key_file {str(path)!r}: {exc.strerror}") from None
        claims = {
            "iss": str(cfg["client_id"]),
            "sub": str(cfg["username"]),
            "aud": jwt_audience(self.login_url),
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        try:
            return jwt.encode(claims, str(key), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            # The library's message could quote key material; say only what is wrong.
            raise ConfigError("private key is not a valid PEM-encoded RSA private key") from None


class _LoginUnavailableError(Exception):
    """The token endpoint did not answer, or answered with a server error."""


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
