"""The settings schema (what ``--about`` shows) and each stream's loading settings.

Checking a config is ``config_checks.py``'s job, reading ``--config`` files
``config_files.py``'s; the login settings' secret flags and the list of auth flows come from
the grants (``grants.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from singer_sdk import typing as th

from target_salesforce_out.grants import AUTH_FLOWS, SECRET_SETTINGS
from target_salesforce_out.operations import Operation

OPERATIONS = ("insert", "update", "upsert", "delete", "hard_delete")
# The deleted_records setting: what a record the source deleted (_sdc_deleted_at) does.
DELETED_RECORDS = ("ignore", "delete", "hard_delete")
# mirror_max_delete_percent when unset.
DEFAULT_MIRROR_MAX_DELETE_PERCENT = 20.0
DEFAULT_API_VERSION = "62.0"
REST_MAX_BATCH = 200
# Bulk jobs are also cut by bytes (see sinks/bulk.py); this only bounds the record count.
BULK_DEFAULT_BATCH = 150_000_000
# api: auto (the default) writes through REST until a stream's pending records pass the
# threshold; records wait in memory until then, hence the cap.
APIS = ("auto", "rest", "bulk")
DEFAULT_BULK_THRESHOLD = 2000
MAX_BULK_THRESHOLD = 100_000

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
        description="auto (default: REST until the stream's pending records pass "
        "bulk_threshold, then a Bulk API 2.0 job; match_fields streams stay on REST, "
        "hard_delete always uses Bulk), rest (sObject Collections, 200 records a call) or bulk "
        "(Bulk API 2.0 ingest jobs).",
        allowed_values=list(APIS),
    ),
    th.Property(
        "bulk_threshold",
        th.IntegerType,
        title="Bulk threshold",
        description="With api auto: records pending in the stream (received, not yet written) "
        f"above which they go as a Bulk job instead of REST calls (default "
        f"{DEFAULT_BULK_THRESHOLD}; 1-{MAX_BULK_THRESHOLD}). Until then they wait in memory.",
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
    th.Property(
        "assignment_rule",
        th.StringType,
        title="Assignment rule",
        description="For Lead and Case streams: default (the object's active assignment rule), "
        "none, or an AssignmentRule Id (01Q...). Unset: nothing is sent, so Salesforce's own "
        "default applies.",
    ),
    th.Property(
        "duplicate_rules",
        th.StringType,
        title="Duplicate rules",
        description="enforce (default: the org's duplicate rules refuse records as configured; "
        "the dead-letter line names the matching duplicates) or allow_save (save records that "
        "only alert-only rules match; Bulk rows refused as duplicates are sent again over REST).",
        allowed_values=["enforce", "allow_save"],
    ),
    th.Property(
        "deleted_records",
        th.StringType,
        title="Deleted records",
        description="What a record with _sdc_deleted_at set (a row deleted at the source, as "
        "log-based taps send it) does in a stream that writes: ignore (default: not written, "
        "counted as ignored_deleted), delete (deleted in Salesforce by the stream's key), or "
        "hard_delete (deleted without the Recycle Bin; Bulk API only).",
        allowed_values=list(DELETED_RECORDS),
    ),
    th.Property(
        "mirror",
        th.BooleanType,
        title="Mirror full-table versions",
        description="true: when the tap sends ACTIVATE_VERSION, delete the records this stream "
        "wrote in earlier runs (per the ledger) that the new version no longer has. Needs "
        "ledger_path; bounded by mirror_max_delete_percent.",
    ),
)
# Every key a streams entry (or defaults) may hold; a key added above is known here too.
STREAM_KEYS = tuple(_STREAM_PROPERTIES.to_dict()["properties"])


def _login_setting(name: str, title: str, description: str) -> th.Property[str]:
    """A credential setting; secret when a grant says so (``grants.py``).

    singer-sdk 0.54.9 writes ``"secret": true`` (and ``writeOnly``) into the schema for
    ``secret=True`` only; ``secret=False`` adds no key, so other settings look as they did.
    """
    return th.Property(
        name, th.StringType, title=title, description=description, secret=name in SECRET_SETTINGS
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
        description=f"{', '.join(AUTH_FLOWS[:-1])} or {AUTH_FLOWS[-1]}; inferred from the "
        "credentials given when absent.",
        allowed_values=list(AUTH_FLOWS),
    ),
    _login_setting(
        "client_id",
        "Client ID",
        "Consumer key of the connected app / External Client App.",
    ),
    _login_setting(
        "client_secret",
        "Client secret",
        "Consumer secret of the connected app / External Client App.",
    ),
    _login_setting("refresh_token", "Refresh token", "For the refresh_token flow."),
    _login_setting(
        "username",
        "Username",
        "Salesforce username, for jwt_bearer and password (sandbox usernames end with "
        ".sandboxname).",
    ),
    _login_setting(
        "private_key",
        "Private key",
        "PEM text of the RSA private key whose certificate is on the connected app (jwt_bearer).",
    ),
    _login_setting(
        "private_key_file",
        "Private key file",
        "Path of a PEM file holding the RSA private key (jwt_bearer).",
    ),
    _login_setting("password", "Password", "For the legacy password flow."),
    _login_setting(
        "security_token",
        "Security token",
        "Appended to the password in the password flow (omit for trusted IPs).",
    ),
    _login_setting(
        "access_token",
        "Access token",
        "A token obtained elsewhere (e.g. sf org display), for access_token.",
    ),
    _login_setting("instance_url", "Instance URL", "Base URL of the org, with access_token."),
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
        "external_id_field, match_fields, api, bulk_threshold, batch_size, field_mapping, "
        "unmapped_properties, person_account, record_type, assignment_rule, duplicate_rules, "
        "deleted_records, mirror.",
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
        "ledger_path",
        th.StringType,
        title="Ledger file",
        description="SQLite file remembering, per stream and key, the payload Salesforce last "
        "confirmed: unchanged records are skipped, inserts are not repeated on a replay, and "
        "records rejected for reasons that can pass are offered again on later runs. Keep it on "
        "a persistent volume.",
    ),
    th.Property(
        "full_refresh",
        th.BooleanType,
        title="Full refresh",
        description="true: ignore the ledger's digests for this run (send every record) and "
        "rebuild them.",
    ),
    th.Property(
        "retry_rejected_runs",
        th.IntegerType,
        title="Retry rejected runs",
        description="How many later runs re-offer, from the ledger, records rejected for "
        "reasons that can pass (row locks, API limits, missing parents); default 3, 0 keeps "
        "none.",
    ),
    th.Property(
        "mirror_max_delete_percent",
        th.NumberType,
        title="Mirror max delete percent",
        description="A stream with mirror: true deletes nothing when a version would delete "
        "more than this share of the records its ledger remembers (default 20); raise it for "
        "a version that really drops that many.",
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
    operation: Operation = Operation.UPSERT
    external_id_field: str | None = None
    match_fields: tuple[str, ...] = ()
    api: str = "auto"
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD
    batch_size: int | None = None
    field_mapping: dict[str, str] = field(default_factory=dict)
    unmapped_properties: str = "error"
    person_account: bool = False
    record_type: str | None = None
    assignment_rule: str | None = None
    duplicate_rules: str = "enforce"
    deleted_records: str = "ignore"
    mirror: bool = False

    @property
    def effective_batch_size(self) -> int:
        """Records per REST call or Bulk job (per REST call with api auto)."""
        if self.batch_size is not None:
            return self.batch_size
        return BULK_DEFAULT_BATCH if self.api == "bulk" else REST_MAX_BATCH

    @property
    def bulk_job_rows(self) -> int:
        """Records per Bulk job: ``batch_size`` with api bulk; with api auto it sizes REST calls.

        Without a record cap, jobs are cut by bytes only (see sinks/bulk.py).
        """
        if self.api == "bulk" and self.batch_size is not None:
            return self.batch_size
        return BULK_DEFAULT_BATCH


def stream_settings(config: dict[str, Any], stream_name: str) -> StreamSettings:
    """Merge ``defaults`` and the stream's own entry (the entry wins, key by key).

    A null is no value: Meltano sends ``null`` for a declared nested setting left unset, and
    that must not hide the default.
    """
    merged = set_keys(config.get("defaults"))
    merged.update(set_keys((config.get("streams") or {}).get(stream_name)))
    if "match_fields" in merged:
        merged["match_fields"] = tuple(merged["match_fields"] or ())
    if "field_mapping" in merged:
        merged["field_mapping"] = dict(merged["field_mapping"] or {})
    if "operation" in merged:
        merged["operation"] = Operation(merged["operation"])
    return StreamSettings(**{k: v for k, v in merged.items() if v is not None})


def set_keys(entry: object) -> dict[str, Any]:
    """A streams entry (or ``defaults``) without its null values."""
    if not isinstance(entry, Mapping):
        return {}
    return {k: v for k, v in entry.items() if v is not None}
