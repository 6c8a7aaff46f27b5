"""Config validation: every problem with a config, one line each, before any network call.

Each problem says what to fix: a wrong type (never echoing a secret), a misspelt setting or
stream key (with the closest known name), a ``domain`` that cannot be a login host,
credentials that do not make up one grant (the grants in ``grants.py`` say what each needs),
and settings that are each valid but cannot work together.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, MutableMapping
from decimal import Decimal
from typing import Any

from jsonschema import ValidationError
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR, extend_validator_with_defaults

from target_salesforce_out import deleted_records, ledger
from target_salesforce_out.api_choice import api_choice_problems
from target_salesforce_out.assignment_rules import ASSIGNABLE, setting_problem
from target_salesforce_out.duplicate_rules import ALLOW_SAVE
from target_salesforce_out.grants import GRANTS, grant_for
from target_salesforce_out.login_hosts import domain_is_sandbox, domain_problems
from target_salesforce_out.operations import Operation
from target_salesforce_out.settings import (
    DEFAULT_API_VERSION,
    REST_MAX_BATCH,
    STREAM_KEYS,
    set_keys,
)

# singer-sdk settings this target drops from its schema (``operation`` and ``batch_size`` say
# the same per stream); still accepted, so a config shared with other singer-sdk targets works.
# singer-sdk 0.54.9's ``Target.append_builtin_config`` adds exactly these two.
SDK_SETTINGS_IGNORED = ("load_method", "batch_size_rows")

# The validator singer-sdk's own config validation uses (singer-sdk 0.54.9,
# ``PluginBase._validate_config``): it fills each setting's default into the config in place.
_VALIDATOR = extend_validator_with_defaults(DEFAULT_JSONSCHEMA_VALIDATOR)

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


def json_type_text(value: object) -> str:
    """What a parsed JSON value is, in words: ``a string``, ``true/false``, ``a list``..."""
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


# -- credentials, login host, streams -----------------------------------------------------


def _check_auth(config: dict[str, Any]) -> list[str]:
    """The grant ``auth_flow`` names or the credentials mean, and what it still needs."""
    grant = grant_for(config)
    if grant is None:
        *first, last = [g.asked_for() for g in GRANTS.values()]
        return [f"no credentials: give {', '.join(first)}, or {last}"]
    return grant.setting_problems(config)


def _check_domain(config: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    domain = config.get("domain")
    if domain:
        problems += domain_problems(str(domain))
    sandbox = config.get("is_sandbox")
    if domain and sandbox is not None:
        says = domain_is_sandbox(str(domain))
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
    api = entry.get("api") or "auto"
    size = entry.get("batch_size")
    if size is not None and api != "bulk" and not 1 <= int(size) <= REST_MAX_BATCH:
        problems.append(f"{where}: batch_size {size} is out of range for api {api} (1-200)")
    if size is not None and api == "bulk" and int(size) < 1:
        problems.append(f"{where}: batch_size {size} must be at least 1")
    operation = entry.get("operation")
    if operation in set(Operation) and not Operation(operation).rest and api == "rest":
        problems.append(f"{where}: operation {operation} needs api bulk (or auto)")
    problems += api_choice_problems(where, own, entry)
    if entry.get("external_id_field") and entry.get("match_fields"):
        problems.append(f"{where}: give external_id_field or match_fields, not both")
    rule = own.get("assignment_rule")
    if rule is not None:
        problem = setting_problem(str(rule))
        if problem is not None:
            problems.append(f"{where}: {problem}")
        # An object named here is checked now; one matched from the stream name, when the
        # sink describes it (see sinks/base.py).
        sobject = entry.get("sobject")
        if name and sobject and str(sobject).lower() not in {a.lower() for a in ASSIGNABLE}:
            problems.append(
                f"{where}: assignment_rule applies only to Lead and Case, not {sobject}"
            )
    # Duplicate rules run when records are saved (REST API Developer Guide, "Duplicate Rule
    # Header"): allow_save set for a deleting stream would change nothing.
    if own.get("duplicate_rules") == ALLOW_SAVE and operation in {"delete", "hard_delete"}:
        problems.append(
            f"{where}: duplicate_rules allow_save applies to saves; operation {operation} "
            "saves no record"
        )
    problems += deleted_records.stream_problems(where, own, entry, api)
    return problems


def cross_setting_problems(config: dict[str, Any]) -> list[str]:
    """Every problem found across settings; empty when the config can work."""
    problems = _check_auth(config) + _check_domain(config)
    defaults = set_keys(config.get("defaults"))
    problems += _check_stream("", defaults, defaults)
    for name, entry in (config.get("streams") or {}).items():
        own = set_keys(entry)
        problems += _check_stream(name, own, {**defaults, **own})
    problems += deleted_records.run_problems(config)
    problems += ledger.config_problems(config)
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
        return f"{where} must be {wanted}, not {json_type_text(value)}{shown}"
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
        f"{name!r} is a per-stream key: put it under streams.<stream name> or under defaults"
        if name in STREAM_KEYS
        else unknown_name_text("setting", name, known)
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
    validator = _VALIDATOR(dict(schema))
    secrets = _secret_names(schema)
    wrong_types = [_schema_problem(e, secrets) for e in validator.iter_errors(config)]
    unknown = unknown_settings(config, schema)
    if wrong_types:
        # The combination checks assume each value has the right type.
        return wrong_types + unknown
    return unknown + cross_setting_problems(dict(config))
