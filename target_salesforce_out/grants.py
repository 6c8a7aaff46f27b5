"""The OAuth grants: one class per ``auth_flow``, in the registry that settings validation reads.

Each grant owns its name, the settings it needs (and which of them are secret), when the
credentials given mean it, what else its settings must satisfy, the hint for its own login
errors, and its token request. To add a flow, write a :class:`Grant` subclass here and list it
in :data:`GRANTS`; a setting it introduces is declared in ``settings.CONFIG_SCHEMA``, which
takes its secret flag from the grants.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jwt

from target_salesforce_out.errors import AuthenticationError, ConfigError
from target_salesforce_out.login_hosts import check_url_scheme, is_generic_login, jwt_audience

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce asks for a JWT expiry no more than 3 minutes ahead (Salesforce Help, "OAuth 2.0
# JWT Bearer Flow for Server-to-Server Integration").
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class TokenRequest:
    """A POST to the token endpoint: the form body, and HTTP Basic credentials if any."""

    body: dict[str, str]
    basic_auth: tuple[str, str] | None = None


@dataclass(frozen=True)
class GivenToken:
    """A token obtained elsewhere: used as it is, no call to the token endpoint."""

    access_token: str
    instance_url: object


class Grant(ABC):
    """One OAuth flow: what it needs from the settings, and how it gets an access token.

    Instances hold one run's credentials (``config``) and the token endpoint's base URL;
    everything settings validation needs is on the class.
    """

    name: ClassVar[str]
    # Settings that must be set (each missing one is a problem of its own).
    required: ClassVar[tuple[str, ...]]
    # Settings used when set.
    optional: ClassVar[tuple[str, ...]] = ()
    # Those of its settings whose values are never shown (the schema marks them secret).
    secrets: ClassVar[frozenset[str]]
    # Credentials that mean this grant when auth_flow is not set: any one group, all of it set.
    implied_by: ClassVar[tuple[tuple[str, ...], ...]]
    # When the credentials of several grants are given (a refresh_token config also holds
    # client_id and client_secret), the lowest precedence is inferred.
    precedence: ClassVar[int]

    def __init__(self, config: Mapping[str, Any], login_url: str) -> None:
        """Keep the credentials; no network call happens here."""
        self.config = config
        self.login_url = login_url

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        """Every setting this grant reads."""
        implied = [name for group in cls.implied_by for name in group]
        return tuple(dict.fromkeys([*cls.required, *cls.optional, *implied]))

    @classmethod
    def credentials_given(cls, config: Mapping[str, Any]) -> bool:
        """True when ``config`` holds the credentials that mean this grant."""
        return any(all(config.get(name) for name in group) for group in cls.implied_by)

    @classmethod
    def asked_for(cls) -> str:
        """How "no credentials" names what to give for this grant, e.g. ``password``."""
        text = "/".join("+".join(group) for group in cls.implied_by)
        return text if text == cls.name else f"{text} ({cls.name})"

    @classmethod
    def setting_problems(cls, config: Mapping[str, Any]) -> list[str]:
        """What keeps ``config`` from working with this grant; empty when it can."""
        return [
            f"auth_flow {cls.name} needs {name}" for name in cls.required if not config.get(name)
        ]

    @classmethod
    def login_hint(cls, config: Mapping[str, Any], error: str, description: str) -> str:
        """What usually causes this grant's OAuth ``error``; empty when nothing specific."""
        return ""

    @abstractmethod
    def token_request(self) -> TokenRequest | GivenToken:
        """The token endpoint request for a new login, or the token given."""

    def accept(self, payload: Mapping[str, Any]) -> None:  # noqa: B027 - most keep nothing
        """Keep what a successful token response hands over for the next login."""

    def cannot_renew(self) -> AuthenticationError | None:
        """Why no new token can be had after a 401; None when this grant logs in again."""
        return None


# Salesforce Help, "Manage OAuth-Enabled Connected Apps Access": five approvals per user per
# connected app, the oldest revoked silently by a sixth.
_REFRESH_HINT = (
    "Salesforce answers so for a refresh_token that is not whole, too: check it was copied "
    "completely. Otherwise it was revoked or expired: Salesforce keeps at most 5 approvals "
    "(refresh tokens) per user per connected app and silently revokes the oldest when a 6th is "
    "granted, so another login with the same user and app (a second deployment, a CI job, a "
    "developer's laptop) may have evicted this one; connected-app refresh token policies can "
    "also expire it. Authorize again to get a new refresh token, or switch to auth_flow "
    "jwt_bearer or client_credentials, which issue no refresh tokens and are not subject to "
    "that limit."
)


class RefreshTokenGrant(Grant):
    """Salesforce Help, "OAuth 2.0 Refresh Token Flow for Renewed Sessions"."""

    name = "refresh_token"
    required = ("client_id", "refresh_token")
    optional = ("client_secret",)
    secrets = frozenset({"client_id", "client_secret", "refresh_token"})
    implied_by = (("refresh_token",),)
    precedence = 3

    def __init__(self, config: Mapping[str, Any], login_url: str) -> None:
        """Start from the configured refresh token; rotation may replace it."""
        super().__init__(config, login_url)
        self._refresh_token = config.get("refresh_token")

    @classmethod
    def login_hint(cls, config: Mapping[str, Any], error: str, description: str) -> str:
        """A revoked or expired refresh token: the five-approval limit, and what to do."""
        text = description.lower()
        # Only this description points at the approval limit; "authentication failure" or
        # "inactive user" would send the reader down the wrong path.
        revoked = "expired" in text or "revoked" in text
        return _REFRESH_HINT if error == "invalid_grant" and revoked else ""

    def token_request(self) -> TokenRequest:
        """``client_secret`` only when set: a connected app may not require it here."""
        body = {
            "grant_type": "refresh_token",
            "client_id": str(self.config["client_id"]),
            "refresh_token": str(self._refresh_token),
        }
        if self.config.get("client_secret"):
            body["client_secret"] = str(self.config["client_secret"])
        return TokenRequest(body)

    def accept(self, payload: Mapping[str, Any]) -> None:
        """Refresh token rotation: a new refresh token comes back and the old one is void."""
        if payload.get("refresh_token"):
            self._refresh_token = str(payload["refresh_token"])


class JwtBearerGrant(Grant):
    """Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"."""

    name = "jwt_bearer"
    required = ("client_id", "username")
    secrets = frozenset({"client_id", "private_key"})
    implied_by = (("private_key",), ("private_key_file",))
    precedence = 2

    @classmethod
    def setting_problems(cls, config: Mapping[str, Any]) -> list[str]:
        """The key comes as PEM text or as a file: exactly one of them."""
        problems = super().setting_problems(config)
        if not (config.get("private_key") or config.get("private_key_file")):
            problems.append("auth_flow jwt_bearer needs private_key or private_key_file")
        if config.get("private_key") and config.get("private_key_file"):
            problems.append("give private_key or private_key_file, not both")
        return problems

    def token_request(self) -> TokenRequest:
        """A fresh assertion for every login: it expires within minutes."""
        return TokenRequest({"grant_type": JWT_GRANT, "assertion": self._assertion()})

    def _assertion(self) -> str:
        cfg = self.config
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


class ClientCredentialsGrant(Grant):
    """Salesforce Help, "OAuth 2.0 Client Credentials Flow for Server-to-Server Integration"."""

    name = "client_credentials"
    required = ("client_id", "client_secret")
    secrets = frozenset({"client_id", "client_secret"})
    implied_by = (("client_id", "client_secret"),)
    precedence = 5

    @classmethod
    def setting_problems(cls, config: Mapping[str, Any]) -> list[str]:
        """The flow is served by the org's My Domain host only."""
        problems = super().setting_problems(config)
        if is_generic_login(config.get("domain"), config.get("is_sandbox")):
            problems.append(
                "auth_flow client_credentials only works against the org's My Domain "
                "(domain: acme.my.salesforce.com); login.salesforce.com and test.salesforce.com "
                "answer 'request not supported on this domain'"
            )
        return problems

    def token_request(self) -> TokenRequest:
        """The consumer key and secret travel as HTTP Basic credentials."""
        credentials = (str(self.config["client_id"]), str(self.config["client_secret"]))
        return TokenRequest({"grant_type": "client_credentials"}, basic_auth=credentials)


class PasswordGrant(Grant):
    """Salesforce Help, "OAuth 2.0 Username-Password Flow for Special Scenarios"."""

    name = "password"
    required = ("client_id", "client_secret", "username", "password")
    optional = ("security_token",)
    secrets = frozenset({"client_id", "client_secret", "password", "security_token"})
    implied_by = (("password",),)
    precedence = 4

    @classmethod
    def login_hint(cls, config: Mapping[str, Any], error: str, description: str) -> str:
        """``authentication failure``: the password, or the security token after it."""
        if error != "invalid_grant" or "authentication" not in description.lower():
            return ""
        if config.get("security_token"):
            return (
                "Check username, password and security_token: resetting the password also "
                "issues a new security token"
            )
        return (
            "Check username and password. Unless the org trusts this IP range, the password "
            "must be followed by the user's security token: set security_token (Salesforce "
            "emails a new one from Settings -> Reset My Security Token)"
        )

    def token_request(self) -> TokenRequest:
        """The security token is appended to the password, with no separator."""
        cfg = self.config
        return TokenRequest(
            {
                "grant_type": "password",
                "client_id": str(cfg["client_id"]),
                "client_secret": str(cfg["client_secret"]),
                "username": str(cfg["username"]),
                "password": str(cfg["password"]) + str(cfg.get("security_token") or ""),
            }
        )


class AccessTokenGrant(Grant):
    """A token obtained elsewhere (``sf org display``) and the org's URL: no login at all."""

    name = "access_token"
    required = ("access_token", "instance_url")
    secrets = frozenset({"access_token"})
    implied_by = (("access_token",),)
    precedence = 1

    @classmethod
    def setting_problems(cls, config: Mapping[str, Any]) -> list[str]:
        """``instance_url`` is a base URL like ``domain``: https, or http to loopback."""
        problems = super().setting_problems(config)
        if config.get("instance_url"):
            problems += check_url_scheme(str(config["instance_url"]), "instance_url")
        return problems

    def token_request(self) -> GivenToken:
        """The configured token and URL, checked like a token response's."""
        return GivenToken(str(self.config["access_token"]), self.config["instance_url"])

    def cannot_renew(self) -> AuthenticationError:
        """Nothing here can get a new token once the given one expires."""
        return AuthenticationError(
            "INVALID_SESSION_ID",
            "the configured access_token expired or was revoked",
            "Get a new token (for example with `sf org display`) or configure a flow "
            "that can log in again (jwt_bearer, client_credentials, refresh_token).",
        )


# The registry, in the order --about and error messages list the flows.
GRANTS: dict[str, type[Grant]] = {
    grant.name: grant
    for grant in (
        RefreshTokenGrant,
        JwtBearerGrant,
        ClientCredentialsGrant,
        PasswordGrant,
        AccessTokenGrant,
    )
}
AUTH_FLOWS = tuple(GRANTS)
# Every login setting whose value is never shown.
SECRET_SETTINGS = frozenset().union(*(grant.secrets for grant in GRANTS.values()))


def grant_for(config: Mapping[str, Any]) -> type[Grant] | None:
    """The grant ``auth_flow`` names, else the one the credentials given mean; None if none."""
    if config.get("auth_flow"):
        return GRANTS[str(config["auth_flow"])]
    given = [grant for grant in GRANTS.values() if grant.credentials_given(config)]
    return min(given, key=lambda grant: grant.precedence, default=None)
