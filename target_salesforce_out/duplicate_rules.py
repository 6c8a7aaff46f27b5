"""A stream's ``duplicate_rules`` setting, and the duplicates named when a save is refused.

``enforce`` (the default) lets the org's duplicate rules refuse records as configured;
``allow_save`` saves records that only alert-only rules match. Over REST that is the
``Sforce-Duplicate-Rule-Header: allowSave=true`` header (REST API Developer Guide, "Duplicate
Rule Header"); Bulk API 2.0 has no such header (Bulk API 2.0 Developer Guide, "Headers"), so
the Bulk sink sends its rows refused with ``DUPLICATES_DETECTED`` again through sObject
Collections with it. Rules whose action is "Block" refuse the record either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ENFORCE = "enforce"
ALLOW_SAVE = "allow_save"
VALUES = (ENFORCE, ALLOW_SAVE)
# The per-record error code of a record a duplicate rule refused (SOAP API Developer Guide,
# "Core Data Types Used in API Calls", StatusCode).
DUPLICATES_DETECTED = "DUPLICATES_DETECTED"


def rule_header(value: str) -> dict[str, str]:
    """The REST header for the setting: ``allowSave=true`` for ``allow_save``, else none.

    Without the header every field of it is false (REST API Developer Guide, "Duplicate Rule
    Header"), which is what ``enforce`` means.
    """
    return {"Sforce-Duplicate-Rule-Header": "allowSave=true"} if value == ALLOW_SAVE else {}


def duplicates_of(error: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The ``(Id, duplicate rule)`` of each record a refusal names, in the order given.

    Read from the error's ``duplicateResult`` (SOAP API Developer Guide, "DuplicateResult":
    ``duplicateRule`` and ``matchResults[].matchRecords[].record.Id``); empty when the error
    has none (Bulk API 2.0 failed results carry only the ``sf__Error`` text).
    """
    result = error.get("duplicateResult")
    if not isinstance(result, Mapping):
        return ()
    rule = str(result.get("duplicateRule") or "")
    found: list[tuple[str, str]] = []
    for match in result.get("matchResults") or ():
        if not isinstance(match, Mapping):
            continue
        for entry in match.get("matchRecords") or ():
            record = entry.get("record") if isinstance(entry, Mapping) else None
            rid = record.get("Id") if isinstance(record, Mapping) else None
            if rid and (str(rid), rule) not in found:
                found.append((str(rid), rule))
    return tuple(found)
