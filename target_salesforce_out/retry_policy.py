"""Which per-record errors are worth sending again, how often, and how long to wait between.

Both sinks apply it to records Salesforce answered one by one (sObject Collections results, Bulk
job failedResults rows): only the failed records go again (in a new call or a new job), the
rest of the call or job is not resent. Whole-call failures (HTTP status, session, API limit)
are the client's business, not this module's.
"""

from __future__ import annotations

import random

from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.operations import Operation

# Times a record is sent again after a transient error, and the first wait (doubling).
RECORD_RETRIES = 4
RECORD_RETRY_BASE_SECONDS = 0.5

# Another transaction held the row (UNABLE_TO_LOCK_ROW; Bulk API 2.0 and Bulk API Developer
# Guide, General Guidelines for Data Loads, on lock contention), or the record was rolled back
# only because another record of its all-or-none request failed (REST API Developer Guide,
# sObject Collections: allOrNone).
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "ALL_OR_NONE_OPERATION_ROLLED_BACK"})


def is_row_lock(error: ErrorDetail) -> bool:
    """Whether ``error`` is a row lock: ``UNABLE_TO_LOCK_ROW``, or a trigger's that hit one."""
    # A trigger or flow that hit a row lock reports it inside its own error.
    return error.code == "UNABLE_TO_LOCK_ROW" or (
        error.code == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
        and "UNABLE_TO_LOCK_ROW" in error.message
    )


def is_retryable(error: ErrorDetail, operation: Operation, attempt: int) -> bool:
    """Whether a record that failed with ``error`` on try ``attempt`` (from 0) goes again."""
    if error.code in RETRYABLE_CODES or is_row_lock(error):
        return True
    # Two concurrent upserts of one new key: one creates it, the other fails DUPLICATE_VALUE
    # and, sent once more, updates it (the race is not documented by Salesforce). "Duplicate
    # external id specified" is one request holding the key twice: never transient.
    return (
        error.code == "DUPLICATE_VALUE"
        and operation.finds_by_key
        and attempt == 0
        and not error.message.startswith("Duplicate external id specified")
    )


def backoff_seconds(attempt: int) -> float:
    """The wait before sending again after try ``attempt``: doubling, with jitter."""
    delay = RECORD_RETRY_BASE_SECONDS * 2**attempt
    return random.uniform(delay / 2, delay)
