"""Bulk rows a duplicate rule refused, sent again through sObject Collections with ``allowSave``.

Bulk API 2.0 has no duplicate rule header (Bulk API 2.0 Developer Guide, "Headers"), so a
stream with ``duplicate_rules: allow_save`` sends its rows that failed with
``DUPLICATES_DETECTED`` again over REST, with ``Sforce-Duplicate-Rule-Header: allowSave=true``
(REST API Developer Guide, "Duplicate Rule Header"). Each record then gets its own outcome:
written (counted created or updated) or dead-lettered with the REST error, which names the
matching duplicates when a rule whose action is "Block" refuses it again.
"""

from __future__ import annotations

import logging
from typing import Any

from target_salesforce_out.assignment_rules import auto_assign_header
from target_salesforce_out.duplicate_rules import ALLOW_SAVE, rule_header
from target_salesforce_out.errors import (
    ErrorDetail,
    RecordRejectedError,
    SalesforceOutError,
)
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import Count
from target_salesforce_out.settings import REST_MAX_BATCH
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rest import (
    call_failure,
    create_records,
    record_errors,
    update_records,
    upsert_records,
)

LOGGER = logging.getLogger("target_salesforce_out.bulk")


def resend(
    sink: SalesforceSink,
    job_operation: Operation,
    records: list[dict[str, Any]],
    job_id: str,
) -> int:
    """Send ``records`` (refused as duplicates in Bulk job ``job_id``) again over REST.

    Returns:
        How many failed again (each dead-lettered with its error).
    """
    if not records:
        return 0
    sink.count(Count.RETRIED, len(records))
    LOGGER.info(
        "stream %r: %d row(s) of Bulk job %s refused as duplicates, sent again over REST with "
        "allowSave (duplicate_rules: %s)",
        sink.stream_name,
        len(records),
        job_id,
        ALLOW_SAVE,
    )
    failed = 0
    items: list[Item] = []
    for record in records:
        try:
            items.append(Item(record, sink.mapper.convert(record)))
        except RecordRejectedError as exc:
            failed += 1
            sink.reject(record, exc.detail, source="target", job_id=job_id)
    key = sink.key_name()
    if job_operation is Operation.UPDATE and key is not None and key != "Id":
        # The job's rows had their Id found by external id; the converted records have not.
        before = len(items)
        items = sink.with_ids(items, key)
        failed += before - len(items)
    headers = {
        **auto_assign_header(sink.assignment_rule),
        **rule_header(ALLOW_SAVE),
    }
    for start in range(0, len(items), REST_MAX_BATCH):
        chunk = items[start : start + REST_MAX_BATCH]
        failed += _send(sink, job_operation, key, chunk, headers, job_id)
    return failed


def _send(
    sink: SalesforceSink,
    operation: Operation,
    key: str | None,
    chunk: list[Item],
    headers: dict[str, str],
    job_id: str,
) -> int:
    """One sObject Collections call for ``chunk``; return how many records failed."""
    client, sobject = sink.runtime.client, sink.obj.name
    try:
        if operation is Operation.INSERT or key is None:
            results = create_records(client, sobject, chunk, headers)
        elif operation.finds_by_key:
            results = upsert_records(client, sobject, key, chunk, headers)
        else:
            results = update_records(client, sobject, chunk, headers)
    except SalesforceOutError as exc:
        detail, source = call_failure(exc, "not sent again over REST")
        for record, _ in chunk:
            sink.reject(record, detail, source=source, job_id=job_id)
        return len(chunk)
    failed = 0
    for (record, _), result in zip(chunk, results, strict=False):
        if result.get("success"):
            created = operation is Operation.INSERT or bool(result.get("created"))
            outcome = operation.outcome(created=created)
            sink.confirm(record, outcome, result.get("id"))
        else:
            failed += 1
            sink.reject(record, record_errors(result)[0], source="salesforce", job_id=job_id)
    for record, _ in chunk[len(results) :]:
        failed += 1
        detail = ErrorDetail("UNEXPECTED_RESPONSE", f"{len(results)} results for {len(chunk)}")
        sink.reject(record, detail, source="salesforce", job_id=job_id)
    return failed
