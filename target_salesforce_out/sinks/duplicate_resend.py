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
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import Count
from target_salesforce_out.settings import REST_MAX_BATCH
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.rest_resend import items_to_send, send_chunk

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
    items, failed = items_to_send(sink, job_operation, records, job_id)
    headers = {
        **auto_assign_header(sink.assignment_rule),
        **rule_header(ALLOW_SAVE),
    }
    for start in range(0, len(items), REST_MAX_BATCH):
        chunk = items[start : start + REST_MAX_BATCH]
        failed += send_chunk(
            sink, job_operation, chunk, headers, job_id, unsent="not sent again over REST"
        )
    return failed
