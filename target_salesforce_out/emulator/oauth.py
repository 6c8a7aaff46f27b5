"""OAuth 2.0 tokens of the emulated org: grants, sessions, revocation (no HTTP here).

Grants, as Salesforce Help describes them: "OAuth 2.0 Refresh Token Flow", "OAuth 2.0
Username-Password Flow" (password + security token), "OAuth 2.0 Client Credentials Flow" (client
credentials as HTTP Basic or body parameters) and "OAuth 2.0 JWT Bearer Flow for Server-to-Server
Integration" (RS256, verified against the configured public key). Failures are
:class:`OAuthError`, which responses/oauth.py renders as ``{"error", "error_description"}``
(Salesforce Help, "OAuth 2.0 Authorization Errors"). Test hooks: a token lifetime counted in API
calls, forced expiry of every access token, and revoking the refresh tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = frozenset({"https://login.salesforce.com", "https://test.salesforce.com"})


@dataclass(frozen=True)
class Credentials:
    """The connected app and user the emulator accepts (README, "Demo credentials")."""

    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"  # noqa: S105 - documented demo credential
    refresh_token: str = "emulator-refresh-token"  # noqa: S105 - documented demo credential
    username: str = "admin@emulator.test"
    password: str = "emulator-password"  # noqa: S105 - documented demo credential
    security_token: str = "emulator-token"  # noqa: S105 - documented demo credential


class OAuthError(Exception):
    """A refused grant or revocation: an OAuth ``error`` code and its description."""

    def __init__(self, error: str, description: str) -> None:
        """Store the error.

        Args:
            error: The ``error`` code.
            description: The ``error_description``.
        """
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        """The JSON error object."""
        return {"error": self.error, "error_description": self.description}


@dataclass
class _Session:
    user_id: str
    refresh_token: str | None
    calls: int = 0


def load_public_key(key: str | bytes | Path | None) -> Any:
    """Load a PEM public key given as text, bytes or a file path.

    Args:
        key: PEM data or a path to a PEM file, or None.

    Returns:
        The key object, or None.

    Raises:
        ValueError: If the key cannot be read.
    """
    if key is None:
        return None
    if isinstance(key, Path) or (isinstance(key, str) and "-----BEGIN" not in key):
        data = Path(key).read_bytes()
    else:
        data = key.encode() if isinstance(key, str) else key
    return load_pem_public_key(data)


def _numeric_date(value: Any) -> float | None:
    """A JWT ``exp``: a number, or a string of digits (as simple-salesforce sends it).

    Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration", asks for a
    NumericDate; that Salesforce also takes it as a string of digits is not documented by
    Salesforce (the emulator's choice, after years of simple-salesforce logins that send it so).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return float(value)
    return None


class TokenService:
    """Issues, checks and revokes tokens. Thread-safe."""

    def __init__(
        self,
        *,
        org_id: str,
        user_lookup: Any,
        credentials: Credentials | None = None,
        jwt_public_key: Any = None,
        token_ttl_calls: int | None = None,
    ) -> None:
        """Configure the service.

        Args:
            org_id: 18-character org id (tokens start with its 15-character form).
            user_lookup: Callable username -> user id (or None when no such user).
            credentials: Accepted credentials (defaults: README, "Demo credentials").
            jwt_public_key: Key object that verifies JWT assertions (None: signatures unchecked).
            token_ttl_calls: After this many API calls an access token stops working.
        """
        self.org_id = org_id
        self.user_lookup = user_lookup
        self.credentials = credentials or Credentials()
        self.jwt_public_key = jwt_public_key
        self.token_ttl_calls = token_ttl_calls
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._revoked_refresh: set[str] = set()

    # ------------------------------------------------------------------ hooks
    def expire_all(self) -> None:
        """Invalidate every access token (the next data call gets 401)."""
        with self._lock:
            self._sessions.clear()

    def revoke_refresh_tokens(self) -> None:
        """Make the refresh token fail with ``invalid_grant`` (and drop its sessions)."""
        with self._lock:
            self._revoked_refresh.add(self.credentials.refresh_token)
            self._sessions = {k: s for k, s in self._sessions.items() if s.refresh_token is None}

    def restore_refresh_tokens(self) -> None:
        """Undo ``revoke_refresh_tokens`` and revocations through the revoke endpoint."""
        with self._lock:
            self._revoked_refresh.clear()

    def issue(self, user_id: str, refresh_token: str | None = None) -> str:
        """Create an access token for a user (also used by tests that skip OAuth).

        Args:
            user_id: The user the session belongs to.
            refresh_token: The refresh token it was issued from, if any.

        Returns:
            The access token ``{orgId15}!{opaque}``.
        """
        opaque = "AQ" + secrets.token_urlsafe(72).replace("-", ".")
        token = f"{self.org_id[:15]}!{opaque}"
        with self._lock:
            self._sessions[token] = _Session(user_id, refresh_token)
        return token

    def authenticate(self, token: str, *, count: bool) -> str | None:
        """Check an access token and, for API calls, spend one call of its lifetime.

        Args:
            token: The bearer token.
            count: Whether this request counts as an API call.

        Returns:
            The user id, or None when the token is unknown, revoked or used up.
        """
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if count and self.token_ttl_calls is not None:
                if session.calls >= self.token_ttl_calls:
                    del self._sessions[token]
                    return None
                session.calls += 1
            return session.user_id

    # ----------------------------------------------------------------- grants
    def grant(
        self, form: dict[str, str], authorization: str | None, base_url: str
    ) -> dict[str, Any]:
        """Carry out a token request.

        Args:
            form: The request's parameters.
            authorization: The Authorization header value (client credentials may use HTTP
                Basic).
            base_url: The emulator's base URL (the ``instance_url`` it hands out).

        Returns:
            The token response's fields.

        Raises:
            OAuthError: When the grant is refused.
        """
        grant = form.get("grant_type", "")
        if grant == "refresh_token":
            return self._refresh(form, base_url)
        if grant == "password":
            return self._password(form, base_url)
        if grant == "client_credentials":
            return self._client_credentials(form, authorization, base_url)
        if grant == JWT_GRANT:
            return self._jwt(form, base_url)
        # Description text not documented by Salesforce; the emulator's choice.
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def revoke(self, token: str | None) -> None:
        """Revoke an access or refresh token (Salesforce Help, "Revoke OAuth Tokens").

        Args:
            token: The token to revoke.

        Raises:
            OAuthError: When the token is unknown or already revoked (description text not
                documented by Salesforce; the emulator's choice).
        """
        with self._lock:
            if token and token in self._sessions:
                del self._sessions[token]
                return
            if token == self.credentials.refresh_token and token not in self._revoked_refresh:
                self._revoked_refresh.add(token)
                self._sessions = {
                    k: s for k, s in self._sessions.items() if s.refresh_token != token
                }
                return
        raise OAuthError("invalid_token", "invalid token")

    def _check_client(
        self, client_id: str | None, secret: str | None, *, need_secret: bool
    ) -> None:
        if client_id != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if (secret is not None or need_secret) and secret != self.credentials.client_secret:
            raise OAuthError("invalid_client", "invalid client credentials")

    def _refresh(self, form: dict[str, str], base_url: str) -> dict[str, Any]:
        self._check_client(form.get("client_id"), form.get("client_secret"), need_secret=False)
        refresh = form.get("refresh_token")
        with self._lock:
            revoked = refresh in self._revoked_refresh
        if refresh != self.credentials.refresh_token or revoked:
            raise OAuthError("invalid_grant", "expired access/refresh token")
        return self._success(self._admin(), base_url, scope="refresh_token api", refresh=refresh)

    def check_password(self, username: str | None, password: str | None) -> str:
        """The user a username and password (followed by the security token) log in as.

        The emulator has no trusted IP ranges, so the security token is always required
        (Salesforce Help, "OAuth 2.0 Username-Password Flow"; SOAP API Developer Guide,
        "login()").

        Args:
            username: The username (case-insensitive).
            password: The password with the security token appended.

        Returns:
            The user id.

        Raises:
            OAuthError: ``invalid_grant`` ``authentication failure`` when they do not match.
        """
        creds = self.credentials
        user_ok = (username or "").lower() == creds.username.lower()
        if not user_ok or password != creds.password + creds.security_token:
            raise OAuthError("invalid_grant", "authentication failure")
        return self._admin()

    def _password(self, form: dict[str, str], base_url: str) -> dict[str, Any]:
        self._check_client(form.get("client_id"), form.get("client_secret"), need_secret=True)
        user_id = self.check_password(form.get("username"), form.get("password"))
        return self._success(user_id, base_url, scope="api")

    def _client_credentials(
        self, form: dict[str, str], authorization: str | None, base_url: str
    ) -> dict[str, Any]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
            except ValueError:
                raise OAuthError("invalid_client", "invalid client credentials") from None
            client_id, _, secret = decoded.partition(":")
        self._check_client(client_id, secret, need_secret=True)
        return self._success(self._admin(), base_url, scope="api")

    def _jwt(self, form: dict[str, str], base_url: str) -> dict[str, Any]:
        assertion = form.get("assertion") or ""
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != "RS256":
                raise OAuthError("invalid_grant", "invalid assertion")
            if self.jwt_public_key is not None:
                claims = jwt.decode(
                    assertion,
                    self.jwt_public_key,
                    algorithms=["RS256"],
                    options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
                )
            else:
                # No key configured: claims are checked, the signature is not.
                claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims.get("aud") not in AUDIENCES:
            raise OAuthError("invalid_grant", "audience is invalid")
        exp = _numeric_date(claims.get("exp"))
        if exp is None or exp < time.time():
            raise OAuthError("invalid_grant", "expired authorization code")
        user_id = self.user_lookup(str(claims.get("sub") or ""))
        if user_id is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        token = self.issue(user_id)
        # Field set and order of the documented JWT response (Salesforce Help, "OAuth 2.0 JWT
        # Bearer Flow for Server-to-Server Integration"): no refresh token, no signature.
        return {
            "access_token": token,
            "scope": "api",
            "instance_url": base_url,
            "id": f"{base_url}/id/{self.org_id}/{user_id}",
            "token_type": "Bearer",
        }

    def _admin(self) -> str:
        user_id = self.user_lookup(self.credentials.username)
        if user_id is None:
            raise OAuthError("invalid_grant", "authentication failure")
        return str(user_id)

    def _success(
        self, user_id: str, base_url: str, *, scope: str, refresh: str | None = None
    ) -> dict[str, Any]:
        token = self.issue(user_id, refresh)
        identity = f"{base_url}/id/{self.org_id}/{user_id}"
        issued_at = str(int(time.time() * 1000))
        digest = hmac.new(
            self.credentials.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": token,
            "signature": base64.b64encode(digest).decode(),
            "scope": scope,
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
