"""REST sink: sObject Collections, 200 records a call, results mapped back by position.

REST API Developer Guide, sObject Collections (Create, Update, Upsert, Delete): at most 200
records a call, one result per record in the order sent, ``allOrNone`` false so that each
record succeeds or fails on its own.

A sink batch holds several calls' worth of records. It is cut into rounds in which no key
appears twice (so the last write for a key lands last), each round into calls of
``batch_size`` records that run concurrently on the shared pool. Records that fail with a
transient per-record error (a row lock, say) are sent again on their own, with backoff; the
rest of the call is not resent.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from target_salesforce_out import dry_run
from target_salesforce_out.assignment_rules import auto_assign_header
from target_salesforce_out.client import SalesforceClient
from target_salesforce_out.duplicate_rules import duplicates_of, rule_header
from target_salesforce_out.errors import (
    ApiLimitError,
    ErrorDetail,
    OutcomeUnknownError,
    SalesforceApiError,
    SessionExpiredError,
    TransientApiError,
)
from target_salesforce_out.reporting import NOT_SENT, Count
from target_salesforce_out.retry_policy import RECORD_RETRIES, backoff_seconds, is_retryable
from target_salesforce_out.sinks.base import SalesforceSink
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.rounds import split_rounds
from target_salesforce_out.soql import MatchKey, find_matches, key_of, match_key
from target_salesforce_out.wire import encode_collection

# One sObject Collections call: the records of a chunk in, one result per record out.
Request = Callable[[list[Item]], list[dict[str, Any]]]


def record_errors(result: dict[str, Any]) -> list[ErrorDetail]:
    """The ``errors`` of one Collections result (``statusCode`` envelope).

    REST API Developer Guide, sObject Collections: each result holds ``id``, ``success`` and
    ``errors`` (``statusCode``, ``message``, ``fields``); a duplicate rule's refusal adds
    ``duplicateResult`` (REST API Developer Guide, "Duplicate Rule Header").
    """
    errors = [
        ErrorDetail(
            str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
            str(e.get("message") or ""),
            tuple(e.get("fields") or ()),
            duplicates_of(e),
        )
        for e in result.get("errors") or ()
    ]
    return errors or [ErrorDetail("UNKNOWN", "Salesforce reported a failure without an error")]


def upsert_records(
    client: SalesforceClient, sobject: str, key: str, chunk: list[Item], headers: dict[str, str]
) -> list[dict[str, Any]]:
    """One sObject Collections upsert by ``key`` (an external id field, or Id)."""
    body = encode_collection(sobject, [fields for _, fields in chunk])
    response = client.request(
        "PATCH", f"/composite/sobjects/{sobject}/{key}", body=body, headers=headers
    )
    return list(response.json())


def create_records(
    client: SalesforceClient, sobject: str, chunk: list[Item], headers: dict[str, str]
) -> list[dict[str, Any]]:
    """One sObject Collections create (never sent twice: a lost answer is an unknown outcome)."""
    body = encode_collection(sobject, [fields for _, fields in chunk])
    response = client.request(
        "POST", "/composite/sobjects", body=body, idempotent=False, headers=headers
    )
    return list(response.json())


def update_records(
    client: SalesforceClient, sobject: str, chunk: list[Item], headers: dict[str, str]
) -> list[dict[str, Any]]:
    """One sObject Collections update by Id (each record's ``id`` attribute)."""
    records = [{("id" if k == "Id" else k): v for k, v in fields.items()} for _, fields in chunk]
    body = encode_collection(sobject, records)
    response = client.request("PATCH", "/composite/sobjects", body=body, headers=headers)
    return list(response.json())


def delete_records(client: SalesforceClient, ids: list[str]) -> list[dict[str, Any]]:
    """One sObject Collections delete of up to 200 ids, each succeeding or failing alone.

    REST API Developer Guide, sObject Collections Delete: ``DELETE /composite/sobjects?ids=``
    with ``allOrNone=false``; one result per id, in the order of ``ids``.
    """
    response = client.request(
        "DELETE", "/composite/sobjects", params={"ids": ",".join(ids), "allOrNone": "false"}
    )
    return list(response.json())


def call_failure(exc: Exception, unsent: str) -> tuple[ErrorDetail, str]:
    """The dead-letter detail and source for the records of a call that failed as a whole.

    Salesforce answered the call with an error, so none of them was written; a call that
    could not be made at all (no connection, the API budget) sent nothing.
    """
    if isinstance(exc, SalesforceApiError):
        detail = ErrorDetail(exc.error_code, f"the call carrying this record failed: {exc}")
        return detail, "salesforce"
    return ErrorDetail(NOT_SENT, f"{unsent}: {exc}"), "target"


class RestSink(SalesforceSink):
    """Loads a stream through sObject Collections."""

    def __init__(
        self,
        target: Any,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        """Set up the sink; no batch has calls running yet."""
        super().__init__(target, stream_name, schema, key_properties)
        # Sent with every create, update and upsert call (the headers are for saves only).
        self._save_headers = {
            **auto_assign_header(self.assignment_rule),
            **rule_header(self.settings.duplicate_rules),
        }
        # The keys and the calls of the batches whose last calls may still be running.
        self._running: deque[tuple[set[Any], list[Future[None]]]] = deque()

    def write_batch(self, items: list[Item]) -> None:
        """Send ``items`` with the stream's operation; its last calls may still run on return.

        While they run, singer-sdk reads the next batch, whose calls then queue behind them
        on the shared pool: round trips overlap across batches instead of stopping at each
        batch's end. STATE is only written after :meth:`wait_for_jobs`.
        """
        keys = self._batch_keys(items)
        self._wait_running(keys)
        futures: list[Future[None]] = []
        if self.mapper.match_columns:
            for round_items in split_rounds(items, self._match_key):
                # A later round's lookup must see this round's writes.
                self._wait(futures)
                futures = self._write_matched(round_items)
        else:
            futures = self._write_keyed(items)
        self._running.append((keys, futures))

    def _write_keyed(self, items: list[Item]) -> list[Future[None]]:
        """Send ``items`` by their key (an external id or Id), or as new records without one."""
        op, key = self.operation, self.mapper.key_column
        if key is None or not op.needs_key:
            # Insert; or upsert by Id with no Id property: every record is new, except an
            # insert the ledger remembers the Id of (see ledger_hook): updated by that Id.
            known = [item for item in items if "Id" in item.fields] if self.ledger else []
            if known:
                new = [item for item in items if "Id" not in item.fields]
                updates = self._run(known, self._update_call, "Id", Count.UPDATED)
                return updates + self._run(new, self._create_call, None, Count.CREATED)
            return self._run(items, self._create_call, None, Count.CREATED)
        if op.finds_by_key:
            if key.name != "Id":
                # Salesforce would answer MISSING_ARGUMENT without naming stream or record.
                items = self._keyed(items, key.name)
            return self._run(items, self._upsert_call, key.name, None)
        call, outcome = self._by_id_call()
        return self._run(self._with_ids(items), call, "Id", outcome)

    def _by_id_call(self) -> tuple[Request, Count]:
        """The call that writes records by their Id for this operation, and what a success is."""
        if self.operation.deletes:
            return self._delete_call, Count.DELETED
        return self._update_call, Count.UPDATED

    def wait_for_jobs(self) -> None:
        """Wait for every call still running; raise its error or apply ``on_record_error``."""
        while self._running:
            _, futures = self._running.popleft()
            self._wait(futures)
        self.raise_for_failures()

    def _wait_running(self, keys: set[Any]) -> None:
        """Let at most one earlier batch run on, and none that shares a key with this one.

        Two writes to one key must land in input order, so a batch that repeats a key of
        the running batch waits for it (a matcher's lookup must also see its creates).
        """
        while len(self._running) > 1 or (
            self._running and not keys.isdisjoint(self._running[0][0])
        ):
            _, futures = self._running.popleft()
            self._wait(futures)

    def _batch_keys(self, items: list[Item]) -> set[Any]:
        """The keys (match values, external ids or Ids) that ``items`` write to."""
        if self.mapper.match_columns:
            return {k for k in map(self._match_key, items) if k is not None}
        key = self.key_name()
        if key is None:
            return set()
        key_type = self.key_type(key)
        return {
            key_of(value, key_type) for _, fields in items if (value := fields.get(key)) is not None
        }

    def _keyed(self, items: list[Item], key: str) -> list[Item]:
        """The items that have a value for ``key``; the others are rejected (MISSING_KEY)."""
        for record, fields in items:
            if fields.get(key) is None:
                self.reject(record, self.no_key(key, record), source="target")
        return [item for item in items if item.fields.get(key) is not None]

    def _match_values(self, item: Item) -> list[Any]:
        """The item's match field values; an absent property counts as null."""
        return [item.fields.get(c.name) for c in self.mapper.match_columns]

    def _match_key(self, item: Item) -> MatchKey | None:
        """The item's match values as Salesforce compares them (see :func:`match_key`).

        A null (or absent, or empty text) value matches records whose field is empty. None
        when every match field is empty: such a record identifies nothing.
        """
        types = [c.field.type for c in self.mapper.match_columns]
        key = match_key(self._match_values(item), types)
        return key if any(k is not None for k in key) else None

    def _lookup_matches(self, items: list[Item]) -> list[tuple[Item, list[str] | None]]:
        """Each item with the ids its match fields find (one query per chunk).

        None instead of ids for an item whose match fields are all empty.
        """
        columns = self.mapper.match_columns
        keyed = [(item, self._match_key(item)) for item in items]
        rows = [self._match_values(item) for item, key in keyed if key is not None]
        found = (
            find_matches(
                self.runtime.client,
                self.obj.name,
                [c.name for c in columns],
                [c.field.type for c in columns],
                rows,
            )
            if rows
            else {}
        )
        return [(item, found.get(key, []) if key is not None else None) for item, key in keyed]

    def _no_match_key(self, record: dict[str, Any]) -> ErrorDetail:
        names = [c.name for c in self.mapper.match_columns]
        text = f"every match field ({', '.join(names)}) is empty, so no record can be matched"
        return ErrorDetail("MISSING_KEY", self.message(record, text), tuple(names))

    def _write_matched(self, items: list[Item]) -> list[Future[None]]:
        """One lookup per chunk of values, then one update call and one create call per 200."""
        op = self.operation
        names = [c.name for c in self.mapper.match_columns]
        matched: list[Item] = []
        new: list[Item] = []
        for (record, fields), ids in self._lookup_matches(items):
            shown_key = ", ".join(f"{n}={fields.get(n)!r}" for n in names)
            if ids is None:
                self.reject(record, self._no_match_key(record), source="target")
            elif len(ids) > 1:
                self.reject(
                    record,
                    ErrorDetail(
                        "MULTIPLE_MATCHES",
                        self.message(
                            record,
                            f"{len(ids)} {self.obj.name} records match {shown_key}: "
                            f"{', '.join(ids)}; none was changed",
                        ),
                        tuple(names),
                    ),
                    source="target",
                )
            elif ids:
                target = {**fields, "Id": ids[0]} if op.sends_fields else {"Id": ids[0]}
                matched.append(Item(record, target))
            elif op.creates_when_not_found:
                new.append(Item(record, fields))
            else:
                text = f"no {self.obj.name} matches {shown_key}"
                self.reject(
                    record,
                    ErrorDetail("NOT_FOUND", self.message(record, text), tuple(names)),
                    source="target",
                )
        call, outcome = self._by_id_call()
        updates = self._submit(matched, call, outcome)  # submitted first, as they come first
        return updates + self._submit(new, self._create_call, Count.CREATED)

    def dry_run_batch(self, items: list[Item]) -> None:
        """Count would-be creates/updates/deletes and the calls they would take (dry_run.py)."""
        if self.deferral is not None:  # what it does not reject counts as written
            self.deferral.dry_write(items, lambda batch: dry_run.rest_batch(self, batch))
        else:
            dry_run.rest_batch(self, items)

    # -- calls ---------------------------------------------------------------------------

    def _with_ids(self, items: list[Item]) -> list[Item]:
        """Records keyed by ``Id`` pass through; others get theirs from one lookup per batch."""
        key = self.key_name()
        if key == "Id":
            missing = [item for item in items if not item.fields.get("Id")]
            for record, _ in missing:
                self.reject(record, self.no_key("Id", record), source="target")
            return [item for item in items if item.fields.get("Id")]
        assert key is not None
        return self.with_ids(items, key)

    def _upsert_call(self, chunk: list[Item]) -> list[dict[str, Any]]:
        key = self.key_name()
        assert key is not None
        return upsert_records(self.runtime.client, self.obj.name, key, chunk, self._save_headers)

    def _create_call(self, chunk: list[Item]) -> list[dict[str, Any]]:
        return create_records(self.runtime.client, self.obj.name, chunk, self._save_headers)

    def _update_call(self, chunk: list[Item]) -> list[dict[str, Any]]:
        return update_records(self.runtime.client, self.obj.name, chunk, self._save_headers)

    def _delete_call(self, chunk: list[Item]) -> list[dict[str, Any]]:
        return delete_records(self.runtime.client, [str(fields["Id"]) for _, fields in chunk])

    # -- execution -------------------------------------------------------------------------

    def _run(
        self, items: list[Item], request: Request, key: str | None, outcome: Count | None
    ) -> list[Future[None]]:
        """Send each round after the one before; return the last round's calls, running.

        ``outcome`` counts a success; None when each result says (an upsert's ``created``).
        """
        key_type = self.key_type(key) if key is not None else "string"

        def key_value(item: Item) -> Any:
            if key is None:
                return None
            value = item.fields.get(key)
            return None if value is None else key_of(value, key_type)

        futures: list[Future[None]] = []
        for round_items in split_rounds(items, key_value):
            self._wait(futures)
            futures = self._submit(round_items, request, outcome)
        return futures

    def _submit(
        self, items: list[Item], request: Request, outcome: Count | None
    ) -> list[Future[None]]:
        size = self.settings.effective_batch_size
        return [
            self.runtime.submit(self._send, items[i : i + size], request, outcome)
            for i in range(0, len(items), size)
        ]

    @staticmethod
    def _wait(futures: list[Future[None]]) -> None:
        """Wait for every call, then raise the first failure (none is left running)."""
        errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _send(self, chunk: list[Item], request: Request, outcome: Count | None) -> None:
        """One chunk's call, then its records that failed with a transient error, again."""
        op = self.operation
        pending = chunk
        for attempt in range(RECORD_RETRIES + 1):
            try:
                results = self._call(pending, request)
            except Exception as exc:
                self._not_written(pending, exc)
                raise
            if results is None:
                return
            self.count(Count.SENT, len(pending) if attempt == 0 else 0)
            retry: list[Item] = []
            for item, result in zip(pending, results, strict=True):
                if result.get("success"):
                    written = outcome
                    if written is None:
                        written = op.outcome(created=bool(result.get("created")))
                    self.confirm(item.record, written, result.get("id"))
                    continue
                errors = record_errors(result)
                if attempt < RECORD_RETRIES and is_retryable(errors[0], op, attempt):
                    retry.append(item)
                else:
                    self.reject(item.record, errors[0], source="salesforce")
            if self.ledger is not None:
                self.ledger.flush()  # this call's confirmations, committed
            if not retry:
                return
            self.count(Count.RETRIED, len(retry))
            time.sleep(backoff_seconds(attempt))
            pending = retry

    def _not_written(self, chunk: list[Item], exc: Exception) -> None:
        """Account for the records of a call that ended the run (it raises on).

        Salesforce answered the whole call with an error, so none of them was written; a
        call that could not be made at all (no connection, the API budget) sent nothing.
        """
        detail, source = call_failure(exc, "not sent")
        for record, _ in chunk:
            self.reject(record, detail, source=source)

    def _call(self, chunk: list[Item], request: Request) -> list[dict[str, Any]] | None:
        """One Collections call; None when every record of it was rejected instead."""
        try:
            results = request(chunk)
        except (TransientApiError, ApiLimitError, SessionExpiredError):
            raise
        except OutcomeUnknownError as exc:
            for record, _ in chunk:
                self.reject(
                    record,
                    ErrorDetail(
                        "OUTCOME_UNKNOWN",
                        f"{exc}. Check the org for this record before loading it again.",
                    ),
                    source="target",
                )
            return None
        except SalesforceApiError as exc:
            for record, _ in chunk:
                self.reject(
                    record,
                    ErrorDetail(exc.error_code, exc.error_message, tuple(exc.fields)),
                    source="salesforce",
                )
            return None
        if len(results) != len(chunk):
            raise SalesforceApiError(
                200,
                "Collections",
                self.obj.name,
                [
                    ErrorDetail(
                        "UNEXPECTED_RESPONSE", f"{len(results)} results for {len(chunk)} records"
                    )
                ],
            )
        return results
