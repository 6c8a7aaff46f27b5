"""Settings: the JSON schema shown by ``--about`` and the checks that span several settings.

JSON schema validation (done by singer-sdk) catches a wrong type; the checks here catch
settings that are each valid but cannot work together, before any network call.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from singer_sdk import typing as th

AUTH_FLOWS = ("refresh_token", "jwt_bearer", "client_credentials", "password", "access_token")
OPERATIONS = ("insert", "update", "upsert", "delete", "hard_delete")
DEFAULT_API_VERSION = "62.0"
REST_MAX_BATCH = 200
# Bulk jobs are also cut by bytes (see sinks/bulk.py); this only bounds the record count.
BULK_DEFAULT_BATCH = 150_000_000
STREAM_KEYS = (
    "sobject",
    "operation",
    "external_id_field",
    "match_fields",
    "api",
    "batch_size",
    "field_mapping",
    "unmapped_properties",
    "person_account",
    "record_type",
)

_STREAM_PROPERTIES = th.PropertiesList(
    th.Property(
        "sobject",
        th.StringType,
        title="Salesforce object",
        description="Target object API name (Contact, Invoice__c). Default: the stream name "
        "matched case-insensitively against object API names, labels and plural labels.",
    ),
    th.Property(
        "operation",
        th.StringType,
        title="Operation",
        description="insert, update, upsert (default), delete, or hard_delete (Bulk API only).",
        allowed_values=list(OPERATIONS),
    ),
    th.Property(
        "external_id_field",
        th.StringType,
        title="External ID field",
        description="Key for upsert, and for update/delete by external id: an externalId or "
        "idLookup field, or Id.",
    ),
    th.Property(
        "match_fields",
        th.ArrayType(th.StringType),
        title="Match fields",
        description="Fields used to find existing records with SOQL when there is no external id. "
        "Several fields combine with AND; more than one match rejects the record.",
    ),
    th.Property(
        "api",
        th.StringType,
        title="API",
        description="rest (sObject Collections, 200 records a call; default) or bulk "
        "(Bulk API 2.0 ingest jobs).",
        allowed_values=["rest", "bulk"],
    ),
    th.Property(
        "batch_size",
        th.IntegerType,
        title="Batch size",
        description="Records per REST call (1-200, default 200) or per Bulk job (default: as "
        "many as fit the 100 MB upload limit).",
    ),
    th.Property(
        "field_mapping",
        th.ObjectType(additional_properties=th.StringType),
        title="Field mapping",
        description="{property: FieldApiName}; a value may be a relationship path such as "
        "Account.External_Id__c.",
    ),
    th.Property(
        "unmapped_properties",
        th.StringType,
        title="Unmapped properties",
        description="error (default: fail at start naming each property and the closest "
        "fields), ignore, or warn.",
        allowed_values=["error", "ignore", "warn"],
    ),
    th.Property(
        "person_account",
        th.BooleanType,
        title="Person Accounts",
        description="true for Account streams that load Person Accounts (needs LastName, "
        "rejects Name).",
    ),
    th.Property(
        "record_type",
        th.StringType,
        title="Record type",
        description="Record type DeveloperName or Name to set on every record (resolved to its "
        "Id with SOQL).",
    ),
)

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "domain",
        th.StringType,
        title="Login domain",
        description="login (default), test, a My Domain host (acme.my.salesforce.com), or a base "
        "URL (https://acme.my.salesforce.com; http:// only for loopback hosts such as the "
        "emulator at http://127.0.0.1:8085).",
    ),
    th.Property(
        "is_sandbox",
        th.BooleanType,
        title="Sandbox",
        description="true means domain test; contradicting an explicit non-sandbox domain is a "
        "config error.",
    ),
    th.Property(
        "auth_flow",
        th.StringType,
        title="Auth flow",
        description="refresh_token, jwt_bearer, client_credentials, password or access_token; "
        "inferred from the credentials given when absent.",
        allowed_values=list(AUTH_FLOWS),
    ),
    th.Property(
        "client_id",
        th.StringType,
        title="Client ID",
        description="Consumer key of the connected app / External Client App.",
        secret=True,
    ),
    th.Property(
        "client_secret",
        th.StringType,
        title="Client secret",
        description="Consumer secret of the connected app / External Client App.",
        secret=True,
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        title="Refresh token",
        description="For the refresh_token flow.",
        secret=True,
    ),
    th.Property(
        "username",
        th.StringType,
        title="Username",
        description="Salesforce username, for jwt_bearer and password (sandbox usernames end "
        "with .sandboxname).",
    ),
    th.Property(
        "private_key",
        th.StringType,
        title="Private key",
        description="PEM text of the RSA private key whose certificate is on the connected app "
        "(jwt_bearer).",
        secret=True,
    ),
    th.Property(
        "private_key_file",
        th.StringType,
        title="Private key file",
        description="Path of a PEM file holding the RSA private key (jwt_bearer).",
    ),
    th.Property(
        "password",
        th.StringType,
        title="Password",
        description="For the legacy password flow.",
        secret=True,
    ),
    th.Property(
        "security_token",
        th.StringType,
        title="Security token",
        description="Appended to the password in the password flow (omit for trusted IPs).",
        secret=True,
    ),
    th.Property(
        "access_token",
        th.StringType,
        title="Access token",
        description="A token obtained elsewhere (e.g. sf org display), for access_token.",
        secret=True,
    ),
    th.Property(
        "instance_url",
        th.StringType,
        title="Instance URL",
        description="Base URL of the org, with access_token.",
    ),
    th.Property(
        "api_version",
        th.StringType,
        title="API version",
        description=f"Salesforce API version such as 62.0 (default {DEFAULT_API_VERSION}; at "
        "least 53.0).",
        default=DEFAULT_API_VERSION,
    ),
    th.Property(
        "streams",
        th.ObjectType(additional_properties=_STREAM_PROPERTIES),
        title="Streams",
        description="Loading settings keyed by incoming stream name: sobject, operation, "
        "external_id_field, match_fields, api, batch_size, field_mapping, unmapped_properties, "
        "person_account, record_type.",
    ),
    th.Property(
        "defaults",
        _STREAM_PROPERTIES,
        title="Stream defaults",
        description="The same keys as a streams entry; apply to every stream that does not set "
        "them.",
    ),
    th.Property(
        "on_record_error",
        th.StringType,
        title="On record error",
        description="fail (default: finish the batch, then exit non-zero) or continue.",
        allowed_values=["fail", "continue"],
        default="fail",
    ),
    th.Property(
        "dead_letter_path",
        th.StringType,
        title="Dead-letter file",
        description="JSONL file of rejected records with stream, record, Salesforce's error "
        "code, message and fields.",
    ),
    th.Property(
        "report_path",
        th.StringType,
        title="Run report",
        description="JSON run report: per stream received/created/updated/deleted/failed, API "
        "calls used, bulk job ids, time.",
    ),
    th.Property(
        "max_api_usage_percent",
        th.NumberType,
        title="Max API usage percent",
        description="Stop cleanly before the org's daily API usage (Sforce-Limit-Info) passes "
        "this percentage.",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType,
        title="Max concurrency",
        description="REST calls or Bulk jobs in flight at once (default 4).",
        default=4,
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        title="Dry run",
        description="Authenticate, describe, map and validate every record; write nothing; "
        "report what would happen.",
        default=False,
    ),
).to_dict()


@dataclass(frozen=True)
class StreamSettings:
    """Loading settings of one stream, defaults applied."""

    sobject: str | None = None
    operation: str = "upsert"
    external_id_field: str | None = None
    match_fields: tuple[str, ...] = ()
    api: str = "rest"
    batch_size: int | None = None
    field_mapping: dict[str, str] = field(default_factory=dict)
    unmapped_properties: str = "error"
    person_account: bool = False
    record_type: str | None = None

    @property
    def effective_batch_size(self) -> int:
        """Records per REST call or Bulk job."""
        if self.batch_size is not None:
            return self.batch_size
        return REST_MAX_BATCH if self.api == "rest" else BULK_DEFAULT_BATCH


def stream_settings(config: dict[str, Any], stream_name: str) -> StreamSettings:
    """Merge ``defaults`` and the stream's own entry (the entry wins, key by key)."""
    merged: dict[str, Any] = dict(config.get("defaults") or {})
    merged.update((config.get("streams") or {}).get(stream_name) or {})
    if "match_fields" in merged:
        merged["match_fields"] = tuple(merged["match_fields"] or ())
    if "field_mapping" in merged:
        merged["field_mapping"] = dict(merged["field_mapping"] or {})
    return StreamSettings(**{k: v for k, v in merged.items() if v is not None})


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


def infer_auth_flow(config: dict[str, Any]) -> str | None:
    """Pick the OAuth flow from the credentials present when ``auth_flow`` is not set."""
    if config.get("auth_flow"):
        return str(config["auth_flow"])
    if config.get("access_token"):
        return "access_token"
    if config.get("private_key") or config.get("private_key_file"):
        return "jwt_bearer"
    if config.get("refresh_token"):
        return "refresh_token"
    if config.get("password"):
        return "password"
    if config.get("client_id") and config.get("client_secret"):
        return "client_credentials"
    return None


_REQUIRED_BY_FLOW: dict[str, tuple[str, ...]] = {
    "refresh_token": ("client_id", "refresh_token"),
    "jwt_bearer": ("client_id", "username"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("client_id", "client_secret", "username", "password"),
    "access_token": ("access_token", "instance_url"),
}


def _domain_is_sandbox(domain: str) -> bool | None:
    """True/False when the domain says which population it is; None when it cannot tell."""
    host = urlsplit(domain).hostname if "://" in domain else domain
    host = (host or "").lower()
    if host in {"test", "test.salesforce.com"} or host.endswith(".sandbox.my.salesforce.com"):
        return True
    if host in {"login", "login.salesforce.com"} or host.endswith(".my.salesforce.com"):
        return False
    return None


def _check_auth(config: dict[str, Any]) -> list[str]:
    flow = infer_auth_flow(config)
    if flow is None:
        return [
            "no credentials: give refresh_token, private_key/private_key_file (jwt_bearer), "
            "client_id+client_secret (client_credentials), password, or access_token"
        ]
    problems = [
        f"auth_flow {flow} needs {name}" for name in _REQUIRED_BY_FLOW[flow] if not config.get(name)
    ]
    if flow == "jwt_bearer" and not (config.get("private_key") or config.get("private_key_file")):
        problems.append("auth_flow jwt_bearer needs private_key or private_key_file")
    if flow == "jwt_bearer" and config.get("private_key") and config.get("private_key_file"):
        problems.append("give private_key or private_key_file, not both")
    if flow == "client_credentials" and _is_generic_login(config):
        problems.append(
            "auth_flow client_credentials only works against the org's My Domain "
            "(domain: acme.my.salesforce.com); login.salesforce.com and test.salesforce.com "
            "answer 'request not supported on this domain'"
        )
    if flow == "access_token" and config.get("instance_url"):
        problems += check_url_scheme(str(config["instance_url"]), "instance_url")
    return problems


def _is_generic_login(config: dict[str, Any]) -> bool:
    domain = str(config.get("domain") or ("test" if config.get("is_sandbox") else "login"))
    host = urlsplit(domain).hostname if "://" in domain else domain
    return (host or "").lower() in {"login", "test", "login.salesforce.com", "test.salesforce.com"}


def _check_domain(config: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    domain = config.get("domain")
    if domain and "://" in str(domain):
        problems += check_url_scheme(str(domain), "domain")
    sandbox = config.get("is_sandbox")
    if domain and sandbox is not None:
        says = _domain_is_sandbox(str(domain))
        if says is not None and says != bool(sandbox):
            kind = "a sandbox" if says else "a production"
            problems.append(
                f"is_sandbox is {str(bool(sandbox)).lower()} but domain {domain!r} is {kind} "
                "login; remove one of them"
            )
    version = str(config.get("api_version") or DEFAULT_API_VERSION)
    try:
        if float(version) < 53.0:
            problems.append(f"api_version {version} is too old: use 53.0 or later")
    except ValueError:
        problems.append(f"api_version {version!r} is not a version such as 62.0")
    return problems


def _check_stream(name: str, own: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    """Check one stream entry: unknown keys in its own text, ranges with defaults applied."""
    where = "defaults" if name == "" else f"streams.{name}"
    problems = [
        f"{where}: unknown key {key!r} (known keys: {', '.join(STREAM_KEYS)})"
        for key in own
        if key not in STREAM_KEYS
    ]
    api = entry.get("api", "rest")
    size = entry.get("batch_size")
    if size is not None and api == "rest" and not 1 <= int(size) <= REST_MAX_BATCH:
        problems.append(f"{where}: batch_size {size} is out of range for api rest (1-200)")
    if size is not None and api == "bulk" and int(size) < 1:
        problems.append(f"{where}: batch_size {size} must be at least 1")
    if entry.get("operation") == "hard_delete" and api != "bulk":
        problems.append(f"{where}: operation hard_delete needs api bulk")
    if entry.get("external_id_field") and entry.get("match_fields"):
        problems.append(f"{where}: give external_id_field or match_fields, not both")
    return problems


def cross_setting_problems(config: dict[str, Any]) -> list[str]:
    """Every problem found across settings; empty when the config can work."""
    problems = _check_auth(config) + _check_domain(config)
    defaults = config.get("defaults") or {}
    problems += _check_stream("", defaults, defaults)
    for name, entry in (config.get("streams") or {}).items():
        problems += _check_stream(name, entry or {}, {**defaults, **(entry or {})})
    percent = config.get("max_api_usage_percent")
    if percent is not None and not 0 < float(percent) <= 100:
        problems.append(f"max_api_usage_percent {percent} must be in (0, 100]")
    concurrency = config.get("max_concurrency")
    if concurrency is not None and not 1 <= int(concurrency) <= 64:
        problems.append(f"max_concurrency {concurrency} must be between 1 and 64")
    return problems
