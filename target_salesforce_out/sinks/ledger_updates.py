"""Insert rows the ledger remembers an Id for, updated by that Id from a Bulk insert stream.

A Bulk insert job can only create, so the rows of an insert stream whose key the ledger
(:mod:`target_salesforce_out.ledger`) remembers, and whose payload changed, are sent as an
sObject Collections update by Id instead (REST API Developer Guide, sObject Collections Update:
up to 200 records a call, one result per record in order).
"""

from __future__ import annotations

from target_salesforce_out.errors import ErrorDetail, SalesforceOutError
from target_salesforce_out.reporting import Count
from target_salesforce_out.settings import REST_MAX_BATCH
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rest import call_failure, record_errors, update_records


def update_by_id(sink: SalesforceSink, items: list[Item]) -> None:
    """Update ``items`` (fields with their remembered ``Id``); confirm or reject each."""
    if sink.runtime.dry_run:
        sink.count(Count.WOULD_UPDATE, len(items))
        return
    for start in range(0, len(items), REST_MAX_BATCH):
        _send(sink, items[start : start + REST_MAX_BATCH])
    if sink.ledger is not None:
        sink.ledger.flush()


def _send(sink: SalesforceSink, chunk: list[Item]) -> None:
    try:
        results = update_records(sink.runtime.client, sink.obj.name, chunk, {})
    except SalesforceOutError as exc:
        detail, source = call_failure(exc, "not sent")
        for record, _ in chunk:
            sink.reject(record, detail, source=source)
        return
    sink.count(Count.SENT, len(chunk))
    for (record, _), result in zip(chunk, results, strict=False):
        if result.get("success"):
            sink.confirm(record, Count.UPDATED, result.get("id"))
        else:
            sink.reject(record, record_errors(result)[0], source="salesforce")
    for record, _ in chunk[len(results) :]:
        detail = ErrorDetail("UNEXPECTED_RESPONSE", f"{len(results)} results for {len(chunk)}")
        sink.reject(record, detail, source="salesforce")
