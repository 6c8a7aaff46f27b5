"""Bulk rows that failed on a row lock, sent again through sObject Collections with backoff.

A Bulk row that fails with ``UNABLE_TO_LOCK_ROW`` lost a race for its parent record (Bulk API 2.0
and Bulk API Developer Guide, General Guidelines for Data Loads). Once a stream's rows are
grouped by parent (see :mod:`.parent_groups`), such rows are few and contend with something
outside their job, so a new Bulk job (at least five calls and a wait in the queue) would often
meet the same lock. They go instead through sObject Collections (REST API Developer Guide,
sObject Collections), whose short transactions hold a parent only for one call: calls of
:data:`LOCK_RETRY_RECORDS` records, and the records that meet a lock again are sent again after a
backoff, in calls half as large each round, at most ``RECORD_RETRIES`` times. Every row gets its
outcome: written (counted created or updated) or dead-lettered with its last error.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from target_salesforce_out.assignment_rules import auto_assign_header
from target_salesforce_out.duplicate_rules import rule_header
from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import NOT_SENT, Count
from target_salesforce_out.retry_policy import RECORD_RETRIES, backoff_seconds
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rest_resend import items_to_send, send_chunk

LOGGER = logging.getLogger("target_salesforce_out.bulk")
# Records per Collections call in the first round (a quarter of the 200 a call may carry).
LOCK_RETRY_RECORDS = 50


def resend_locked(
    sink: SalesforceSink,
    job_operation: Operation,
    records: list[dict[str, Any]],
    job_id: str,
    stop: threading.Event,
) -> int:
    """Send ``records`` (failed on a row lock in Bulk job ``job_id``) again over REST.

    Returns:
        How many failed in the end (each dead-lettered with its error).
    """
    if not records:
        return 0
    sink.count(Count.LOCK_RETRIED, len(records))
    sink.count(Count.RETRIED, len(records))
    LOGGER.info(
        "stream %r: %d row(s) of Bulk job %s failed on a row lock; sent again over REST",
        sink.stream_name,
        len(records),
        job_id,
    )
    items, failed = items_to_send(sink, job_operation, records, job_id)
    headers = {
        **auto_assign_header(sink.assignment_rule),
        **rule_header(sink.settings.duplicate_rules),
    }
    size = LOCK_RETRY_RECORDS
    for attempt in range(RECORD_RETRIES + 1):
        last = attempt == RECORD_RETRIES
        locked: list[Item] = []
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            failed += send_chunk(
                sink,
                job_operation,
                chunk,
                headers,
                job_id,
                unsent="not sent again over REST after a row lock",
                locked=None if last else locked,
            )
        if not locked:
            break
        sink.count(Count.RETRIED, len(locked))
        if stop.wait(backoff_seconds(attempt)):
            for record, _ in locked:
                text = "was to be sent again after a row lock, but the run stopped first"
                detail = ErrorDetail(NOT_SENT, sink.message(record, text))
                sink.reject(record, detail, source="target", job_id=job_id)
            failed += len(locked)
            break
        items, size = locked, max(1, size // 2)
    sink.count(Count.LOCK_RETRY_FAILED, failed)
    return failed
