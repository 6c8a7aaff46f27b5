"""Bulk rows sent again through sObject Collections, one record's outcome at a time.

Rows a Bulk job refused for a reason REST can get past (a duplicate rule, with the header Bulk
API 2.0 lacks; a row lock, with REST's shorter transactions) are converted again from the
record as received and sent in sObject Collections calls (REST API Developer Guide, sObject
Collections). Used by :mod:`.duplicate_resend` and :mod:`.lock_retry`.
"""

from __future__ import annotations

from typing import Any

from target_salesforce_out.errors import ErrorDetail, RecordRejectedError, SalesforceOutError
from target_salesforce_out.operations import Operation
from target_salesforce_out.retry_policy import is_row_lock
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rest import (
    call_failure,
    create_records,
    record_errors,
    update_records,
    upsert_records,
)


def items_to_send(
    sink: SalesforceSink, job_operation: Operation, records: list[dict[str, Any]], job_id: str
) -> tuple[list[Item], int]:
    """``records`` converted for a Collections call, and how many were rejected instead.

    An update job's rows had their Id found by external id; the converted records have not,
    so they are looked up again (a record no longer found is rejected).
    """
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
        before = len(items)
        items = sink.with_ids(items, key)
        failed += before - len(items)
    return items, failed


def send_chunk(
    sink: SalesforceSink,
    operation: Operation,
    chunk: list[Item],
    headers: dict[str, str],
    job_id: str,
    *,
    unsent: str,
    locked: list[Item] | None = None,
) -> int:
    """One Collections call for ``chunk``; return how many records failed for good.

    ``unsent`` ends the message of records the call could not carry. With ``locked``, records
    refused on a row lock join it (to be sent again) instead of failing.
    """
    client, sobject, key = sink.runtime.client, sink.obj.name, sink.key_name()
    try:
        if operation is Operation.INSERT or key is None:
            results = create_records(client, sobject, chunk, headers)
        elif operation.finds_by_key:
            results = upsert_records(client, sobject, key, chunk, headers)
        else:
            results = update_records(client, sobject, chunk, headers)
    except SalesforceOutError as exc:
        detail, source = call_failure(exc, unsent)
        for record, _ in chunk:
            sink.reject(record, detail, source=source, job_id=job_id)
        return len(chunk)
    failed = 0
    for item, result in zip(chunk, results, strict=False):
        if result.get("success"):
            created = operation is Operation.INSERT or bool(result.get("created"))
            sink.confirm(item.record, operation.outcome(created=created), result.get("id"))
            continue
        error = record_errors(result)[0]
        if locked is not None and is_row_lock(error):
            locked.append(item)
            continue
        failed += 1
        sink.reject(item.record, error, source="salesforce", job_id=job_id)
    for record, _ in chunk[len(results) :]:
        failed += 1
        detail = ErrorDetail("UNEXPECTED_RESPONSE", f"{len(results)} results for {len(chunk)}")
        sink.reject(record, detail, source="salesforce", job_id=job_id)
    return failed
