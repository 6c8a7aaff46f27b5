"""Settings: the JSON schema shown by ``--about`` and every check made before a network call.

Each problem is one line that says what to fix: a wrong type (never echoing a secret), a
misspelt setting or stream key (with the closest known name), a ``domain`` that cannot be a
login host, and settings that are each valid but cannot work together. The ``--config`` files
are read here too, so a missing or broken file is one line as well.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import textwrap
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import ValidationError
from singer_sdk import typing as th
from singer_sdk.about import AboutInfo
from singer_sdk.helpers._util import load_json
from singer_sdk.plugin_base import _ConfigInput

from target_salesforce_out.errors import ConfigError

AUTH_FLOWS = ("refresh_token", "jwt_bearer", "client_credentials", "password", "access_token")
OPERATIONS = ("insert", "update", "upsert", "delete", "hard_delete")
DEFAULT_API_VERSION = "62.0"
REST_MAX_BATCH = 200
# Bulk jobs are also cut by bytes (see sinks/bulk.py); this only bounds the record count.
BULK_DEFAULT_BATCH = 150_000_000

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
# Every key a streams entry (or defaults) may hold; a key added above is known here too.
STREAM_KEYS = tuple(_STREAM_PROPERTIES.to_dict()["properties"])

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
        "success_path",
        th.StringType,
        title="Success file",
        description="JSONL file of written records: stream, key, Salesforce Id, and whether "
        "it was created, updated or deleted (like Data Loader's success file).",
    ),
    th.Property(
        "state_interval_seconds",
        th.NumberType,
        title="STATE interval (seconds)",
        description="Write what is buffered and emit STATE for confirmed records at least "
        "this often while input keeps arriving (default 60), so a crash re-sends at most "
        "about this much work.",
        default=60,
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
    """Merge ``defaults`` and the stream's own entry (the entry wins, key by key).

    A null is no value: Meltano sends ``null`` for a declared nested setting left unset, and
    that must not hide the default.
    """
    merged = _set_keys(config.get("defaults"))
    merged.update(_set_keys((config.get("streams") or {}).get(stream_name)))
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


def _set_keys(entry: object) -> dict[str, Any]:
    """A streams entry (or ``defaults``) without its null values."""
    if not isinstance(entry, Mapping):
        return {}
    return {k: v for k, v in entry.items() if v is not None}


_HOST = re.compile(r"(?i)^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
# "https//acme...", "https:/acme...", "https:acme...": a scheme whose "://" went missing.
_BROKEN_SCHEME = re.compile(r"(?i)^(https?)(:/?|//?)(?!/)")


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


def _check_domain(config: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    domain = config.get("domain")
    if domain:
        problems += domain_problems(str(domain))
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
        f"{where}: {unknown_name_text('key', key, STREAM_KEYS)}"
        for key in own
        if key not in STREAM_KEYS
    ]
    api = entry.get("api") or "rest"
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
    defaults = _set_keys(config.get("defaults"))
    problems += _check_stream("", defaults, defaults)
    for name, entry in (config.get("streams") or {}).items():
        own = _set_keys(entry)
        problems += _check_stream(name, own, {**defaults, **own})
    percent = config.get("max_api_usage_percent")
    if percent is not None and not 0 < float(percent) <= 100:
        problems.append(f"max_api_usage_percent {percent} must be in (0, 100]")
    concurrency = config.get("max_concurrency")
    if concurrency is not None and not 1 <= int(concurrency) <= 64:
        problems.append(f"max_concurrency {concurrency} must be between 1 and 64")
    interval = config.get("state_interval_seconds")
    if interval is not None and not 1 <= float(interval) <= 86_400:
        problems.append(f"state_interval_seconds {interval} must be between 1 and 86400")
    return problems


# -- whole-config checks ------------------------------------------------------------------

# singer-sdk settings this target drops from its schema (``operation`` and ``batch_size`` say
# the same per stream); still accepted, so a config shared with other singer-sdk targets works.
SDK_SETTINGS_IGNORED = ("load_method", "batch_size_rows")

_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def unknown_name_text(kind: str, name: str, known: Iterable[str]) -> str:
    """``unknown setting 'x'; did you mean 'y'?`` (or the list of known names)."""
    names = list(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:
        close = [n for n in names if n.replace("_", "") == name.replace("_", "").lower()]
    if close:
        return f"unknown {kind} {name!r}; did you mean {close[0]!r}?"
    return f"unknown {kind} {name!r} (known: {', '.join(names)})"


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null"


def _schema_problem(error: ValidationError, secrets: set[str]) -> str:
    """One line for a JSON schema error; the value is shown only when it is not secret."""
    path = [str(p) for p in error.absolute_path]
    where = ".".join(path) or "the config"
    secret = bool(set(path) & secrets) or bool(
        isinstance(error.schema, Mapping) and error.schema.get("secret")
    )
    value = error.instance
    expected: Any = error.validator_value
    if error.validator == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_JSON_TYPES.get(t, t) for t in types if t != "null")
        shown = "" if secret else f" {value!r}"
        return f"{where} must be {wanted}, not {_json_type(value)}{shown}"
    if secret:
        return f"{where} is not valid (its value is secret, so it is not shown)"
    if error.validator == "enum":
        options = [str(o) for o in expected if o is not None]
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{where}: {value!r} is not one of {', '.join(options)}{hint}"
    return f"{where}: {error.message}"


def _secret_names(schema: Mapping[str, Any]) -> set[str]:
    return {n for n, s in schema.get("properties", {}).items() if s.get("secret")}


def unknown_settings(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Top-level names the target does not know, each with the closest known setting."""
    known = list(schema.get("properties", {}))
    return [
        unknown_name_text("setting", name, known)
        for name in config
        if name not in known and name not in SDK_SETTINGS_IGNORED
    ]


def config_problems(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every problem with ``config``, one line each; empty when the config can work.

    ``schema`` is the target's whole settings schema (singer-sdk's built-ins included). As
    singer-sdk's own validation does, this fills in each setting's default; it also drops
    nulls from the top level and from ``defaults`` and ``streams`` entries: a null is an unset
    setting (Meltano sends one for each declared ``defaults.<key>`` left unset).
    """
    for name in [n for n, v in config.items() if v is None]:
        del config[name]
    entries = [config.get("defaults"), *dict(config.get("streams") or {}).values()]
    for entry in entries:
        if isinstance(entry, MutableMapping):
            for key in [k for k, v in entry.items() if v is None]:
                del entry[key]
    from singer_sdk.typing import (  # noqa: PLC0415 - the validator singer-sdk itself uses
        DEFAULT_JSONSCHEMA_VALIDATOR,
        extend_validator_with_defaults,
    )

    validator = extend_validator_with_defaults(DEFAULT_JSONSCHEMA_VALIDATOR)(dict(schema))
    secrets = _secret_names(schema)
    wrong_types = [_schema_problem(e, secrets) for e in validator.iter_errors(config)]
    unknown = unknown_settings(config, schema)
    if wrong_types:
        # The combination checks assume each value has the right type.
        return wrong_types + unknown
    return unknown + cross_setting_problems(dict(config))


# -- --config files -----------------------------------------------------------------------


class ConfigFileError(ConfigError):
    """A ``--config`` file is missing, unreadable, or not a JSON object."""


@dataclass
class ConfigInput(_ConfigInput):
    """singer-sdk's ``--config`` result, plus the problem that kept a file from being read."""

    problem: ConfigFileError | None = None


def read_config_file(path: str) -> dict[str, Any]:
    """One ``--config`` file, parsed as singer-sdk parses it (numbers with every digit)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path!r} not found") from None
    except IsADirectoryError:
        raise ConfigFileError(f"config file {path!r} is a directory, not a JSON file") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"config file {path!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigFileError(f"config file {path!r} cannot be read: {exc.strerror}") from None
    if not text.strip():
        raise ConfigFileError(f"config file {path!r} is empty; it must hold a JSON object")
    try:
        value = load_json(text)
    except ValueError as exc:
        # simplejson's message says what and where, never quoting the file's text.
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        where = f" at line {line} column {column}" if line else ""
        reason = getattr(exc, "msg", "not JSON")
        raise ConfigFileError(f"config file {path!r} is not valid JSON: {reason}{where}") from None
    if not isinstance(value, dict):
        raise ConfigFileError(
            f"config file {path!r} holds {_json_type(value)}; it must hold a JSON object of "
            "settings"
        )
    return value


def config_input(paths: Iterable[str]) -> ConfigInput:
    """What ``--config`` gave: files merged in order (later wins), ``ENV`` for env vars."""
    config: dict[str, Any] = {}
    parse_env = False
    try:
        for path in paths:
            if path == "ENV":
                parse_env = True
            else:
                config |= read_config_file(path)
    except ConfigFileError as exc:
        return ConfigInput(problem=exc)
    return ConfigInput(config=config, parse_env=parse_env)


# -- Meltano's connection test ------------------------------------------------------------

# `meltano config test` sends one record of this stream. When no streams entry names it, the
# target only logs in and lists the org's objects (describe global), and loads nothing.
CONNECTION_TEST_STREAM = "meltano_test_stream"


def is_connection_test(config: Mapping[str, Any], stream_name: str) -> bool:
    """True for Meltano's test stream, unless the user configured a stream of that name."""
    return stream_name == CONNECTION_TEST_STREAM and stream_name not in (
        config.get("streams") or {}
    )


# -- plain --about ------------------------------------------------------------------------


def _settings_rows(schema: Mapping[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(dotted name, schema) of every setting, nested keys after their object."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for name, spec in schema.get("properties", {}).items():
        rows.append((prefix + name, spec))
        if spec.get("properties"):
            rows += _settings_rows(spec, f"{prefix}{name}.")
        extra = spec.get("additionalProperties")
        if isinstance(extra, Mapping) and extra.get("properties"):
            rows += _settings_rows(extra, f"{prefix}{name}.<{name.rstrip('s')}>.")
    return rows


def _type_text(spec: Mapping[str, Any]) -> str:
    kinds = spec.get("type") or []
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    words = [k for k in kinds if k != "null"] or ["any"]
    text = "/".join(words)
    if spec.get("enum"):
        text = "one of " + ", ".join(str(v) for v in spec["enum"] if v is not None)
    if spec.get("secret"):
        text += ", secret"
    if spec.get("default") is not None:
        default = spec["default"]
        text += f", default {str(default).lower() if isinstance(default, bool) else default}"
    return text


def about_text(info: AboutInfo) -> str:
    """``--about`` without ``--format``: singer-sdk's header, then each setting described."""
    lines = [
        f"Name: {info.name}",
        f"Description: {info.description}",
        f"Version: {info.version}",
        f"SDK Version: {info.sdk_version}",
    ]
    if info.supported_python_versions:
        lines.append(f"Supported Python Versions: {', '.join(info.supported_python_versions)}")
    lines.append(f"Capabilities: {', '.join(str(c) for c in info.capabilities)}")
    lines += [
        "",
        f"Settings (a top-level setting can also come from the environment variable "
        f"{info.env_var_prefix}<NAME> with --config ENV):",
    ]
    for name, spec in _settings_rows(info.settings):
        lines.append(f"  {name} ({_type_text(spec)})")
        description = str(spec.get("description") or spec.get("title") or "")
        lines += textwrap.wrap(
            description, width=100, initial_indent="      ", subsequent_indent="      "
        )
    return "\n".join(lines)
