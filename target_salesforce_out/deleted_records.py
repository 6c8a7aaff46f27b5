"""Rows deleted at the source (``_sdc_deleted_at``) and the settings that say what they do.

Log-based (CDC) taps send a row deleted at the source as a RECORD whose ``_sdc_deleted_at``
holds the time of the delete (singer-sdk, "Record Metadata": ``_sdc_deleted_at``). In a stream
that writes (insert, update, upsert), ``deleted_records`` decides what such a record does:

* ``ignore`` (default): it is not written; the report counts it as ``ignored_deleted`` and
  the log says once per stream how many there were;
* ``delete``: the record with the stream's key is deleted in Salesforce (to the Recycle Bin);
* ``hard_delete``: the same without the Recycle Bin, which only Bulk API 2.0 offers (Bulk API
  2.0 Developer Guide, Create a Job: operation ``hardDelete``).

``mirror: true`` (see :mod:`target_salesforce_out.mirror`) deletes what a full-table version
no longer has; it needs the ledger, and ``mirror_max_delete_percent`` bounds it.

This module holds what needs no sink: the setting's checks and how a record is recognised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from target_salesforce_out.settings import DELETED_RECORDS, set_keys

# The singer-sdk metadata property a log-based tap sets on a row deleted at the source.
DELETED_AT = "_sdc_deleted_at"
IGNORE, DELETE, HARD_DELETE = DELETED_RECORDS


def deleted_at(record: Mapping[str, Any]) -> Any:
    """The record's ``_sdc_deleted_at`` value; None (or absent) means a live row."""
    return record.get(DELETED_AT)


def stream_problems(
    where: str, own: Mapping[str, Any], entry: Mapping[str, Any], api: str
) -> list[str]:
    """``deleted_records`` problems of one streams entry (or ``defaults``), defaults applied.

    Salesforce hard-deletes only through Bulk API 2.0 (Create a Job, operation
    ``hardDelete``); sObject Collections has no hard delete. A problem that a stream only
    inherits from ``defaults`` is reported once, for ``defaults``.
    """
    inherited = not own.keys() & {"deleted_records", "api"}
    if entry.get("deleted_records") == HARD_DELETE and api == "rest" and not inherited:
        return [
            f"{where}: deleted_records hard_delete needs Bulk API (Salesforce hard-deletes "
            "only through Bulk API 2.0); set api to bulk, or deleted_records to delete"
        ]
    return []


def run_problems(config: Mapping[str, Any]) -> list[str]:
    """``mirror`` without ``ledger_path``, and ``mirror_max_delete_percent`` out of range."""
    problems: list[str] = []
    defaults = set_keys(config.get("defaults"))
    mirrored = [
        name
        for name, entry in (config.get("streams") or {}).items()
        if {**defaults, **set_keys(entry)}.get("mirror")
    ]
    if defaults.get("mirror"):
        mirrored.insert(0, "defaults")
    if mirrored and not config.get("ledger_path"):
        names = ", ".join(f"{n!r}" for n in mirrored)
        problems.append(
            f"mirror is true for {names} but ledger_path is not set: mirror deletes the records "
            "the ledger remembers writing; set ledger_path to a SQLite file on a persistent disk"
        )
    percent = config.get("mirror_max_delete_percent")
    if percent is not None and not 0 <= float(percent) <= 100:
        problems.append(f"mirror_max_delete_percent {percent} must be between 0 and 100")
    return problems
