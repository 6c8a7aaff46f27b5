"""What a sink does with the ledger (:mod:`target_salesforce_out.ledger`): skip, remember, keep.

One :class:`SinkLedger` per sink, when ``ledger_path`` is set and the stream has a usable key:

* :meth:`SinkLedger.skips_raw`, from the target before singer-sdk's record work (the fast
  path): a record whose raw digest (as the tap sent it, without ``_sdc_*`` properties) is the
  one stored with its key's confirmed payload, under the same raw signature (SCHEMA, describe
  of the mapped fields, settings, version; see :func:`raw_signature`), is skipped as
  ``unchanged`` without being validated or converted: it would convert to the same payload.
  Otherwise its raw digest waits in :attr:`SinkLedger.raw_next` for :meth:`offer`;
* :meth:`SinkLedger.offer`, from ``_prepare`` after conversion: a record whose converted payload
  has the digest Salesforce last confirmed for its key is skipped (counted ``unchanged``); an
  insert stream's record whose key has a remembered Salesforce Id gets that Id, and the sink
  sends it as an update by Id instead of a create;
* :meth:`SinkLedger.confirmed`, from ``confirm``: remembers the digest and Id (buffered; see
  :meth:`SinkLedger.flush`); a delete forgets the key;
* :meth:`SinkLedger.rejected`, from ``reject``: keeps a record whose rejection can pass later
  (see :func:`retry_later`) to offer it again on the next run.

The key of a record: its key field's value (external id or Id) in the form Salesforce compares
it by (:func:`~target_salesforce_out.soql.key_of`); for ``match_fields``, the match values;
for ``insert``, the values of the tap's ``key_properties``. Bulk rows carry their key and
digest inside the job's stored record (:func:`attach_note`, :func:`split_note`), so a row's
confirmation, read back from the job's results, knows them without converting it again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

from target_salesforce_out.errors import ErrorDetail, ValueProblemError
from target_salesforce_out.jsonl_files import RECORD_ENCODER
from target_salesforce_out.ledger import (
    StreamLedger,
    payload_digest,
    raw_digest,
    signature_of,
)
from target_salesforce_out.operations import Operation
from target_salesforce_out.reporting import NOT_SENT, OUTCOME_UNKNOWN, Count
from target_salesforce_out.settings import REST_MAX_BATCH
from target_salesforce_out.soql import key_of, match_key

if TYPE_CHECKING:
    from target_salesforce_out.describe import FieldInfo, ObjectInfo
    from target_salesforce_out.mapping import Column, RecordMapper
    from target_salesforce_out.runtime import Runtime
    from target_salesforce_out.settings import StreamSettings
    from target_salesforce_out.sinks.item import Item


class SalesforceSink(Protocol):
    """What the ledger uses of a sink (``sinks.base.SalesforceSink`` has it).

    A protocol rather than the class: the sink holds a :class:`SinkLedger`, so this module
    must not import the sink's.
    """

    stream_name: str
    runtime: Runtime
    mapper: RecordMapper
    obj: ObjectInfo
    operation: Operation
    settings: StreamSettings
    original_schema: dict[str, Any]

    @property
    def key_properties(self) -> Sequence[str]:
        """The tap's key properties for the stream."""

    @property
    def validate_schema(self) -> bool:
        """Whether records are checked against their SCHEMA (singer-sdk)."""

    @property
    def datetime_error_treatment(self) -> Any:
        """What singer-sdk does with a datetime it cannot parse."""

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Whether singer-sdk adds its ``_sdc_*`` properties (``add_record_metadata``)."""

    def count(self, count: Count, n: int = 1) -> None:
        """Add to one of the stream's counters."""

    def key_type(self, key: str) -> str:
        """Describe type of the key field."""


LOGGER = logging.getLogger("target_salesforce_out.ledger")

# Rejections that can pass on a later run without anyone changing the data: a row lock
# (REST API Developer Guide, "Status Codes and Error Responses": UNABLE_TO_LOCK_ROW), the org's
# API allocation (REQUEST_LIMIT_EXCEEDED), a parent not loaded yet (INVALID_CROSS_REFERENCE_KEY;
# the load planner's MISSING_PARENT), the service being unavailable, a Bulk job that ended
# before processing the row, and a record the run stopped before sending.
RETRY_LATER_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "REQUEST_LIMIT_EXCEEDED",
        "INVALID_CROSS_REFERENCE_KEY",
        "MISSING_PARENT",
        "SERVER_UNAVAILABLE",
        "BULK_UNPROCESSED",
        NOT_SENT,
    }
)
# Sent, with no answer: offered again only where a second write is harmless (not a create).
_UNKNOWN_CODES = frozenset({OUTCOME_UNKNOWN, "BULK_RESULT_MISSING"})
# A lookup by external id that found no parent (REST API Developer Guide, "Status Codes and
# Error Responses": INVALID_FIELD, "Foreign key external ID: ... not found for field ...").
_NO_PARENT_TEXT = "Foreign key external ID"
# The first byte of a Bulk row's stored record that carries a ledger note (JSON never starts
# with it).
_NOTE_MARK = b"\x00"
# A record's ledger key from (the record, its converted fields), and from the record alone.
KeyFunctions = tuple[
    Callable[[dict[str, Any], dict[str, Any]], str | None], Callable[[dict[str, Any]], str | None]
]


def retry_later(detail: ErrorDetail, operation: Operation) -> bool:
    """Whether a record rejected with ``detail`` is kept to be offered again next run.

    Data errors (a bad picklist value, a text too long, a failed validation rule) are not:
    sending the same record again would fail the same way.
    """
    code = detail.code
    if code in RETRY_LATER_CODES:
        return True
    text = detail.message
    if code == "INVALID_FIELD" and _NO_PARENT_TEXT in text and "not found" in text:
        return True
    if code == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY" and "UNABLE_TO_LOCK_ROW" in detail.message:
        return True
    return code in _UNKNOWN_CODES and not operation.creates_when_not_found and operation.needs_key


def attach_note(key: str, digest: bytes, record_json: bytes) -> bytes:
    """A Bulk row's stored record with its ledger key and digest (raw digest too) in front."""
    encoded = key.encode()
    return (
        _NOTE_MARK
        + bytes((len(digest),))
        + digest
        + len(encoded).to_bytes(4, "big")
        + encoded
        + record_json
    )


def split_note(record_json: bytes) -> tuple[tuple[str, bytes] | None, bytes]:
    """((key, digest) or None, the stored record's JSON) of a Bulk row's stored record."""
    if not record_json.startswith(_NOTE_MARK):
        return None, record_json
    end = 2 + record_json[1]
    digest = record_json[2:end]
    size = int.from_bytes(record_json[end : end + 4], "big")
    key = record_json[end + 4 : end + 4 + size].decode()
    return (key, digest), record_json[end + 4 + size :]


def _field_parts(field: FieldInfo | None) -> dict[str, Any] | None:
    """A field's describe properties, in a stable form (picklist values sorted)."""
    if field is None:
        return None
    parts = dataclasses.asdict(field)
    parts["picklist_values"] = sorted(field.picklist_values)
    return parts


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def raw_signature(sink: SalesforceSink, payload_signature: str) -> str:
    """What decides how a record as received becomes its payload, hashed.

    The payload's signature (object, operation, key, mapping, constants), the SCHEMA and key
    properties (validation, date parsing), the describe of every mapped field (conversion:
    type, length, scale, picklist values), the stream's settings, singer-sdk's record options
    and the versions of this package and singer-sdk (the conversion code itself).
    """
    mapper = sink.mapper
    return signature_of(
        {
            "payload": payload_signature,
            "schema": sink.original_schema,
            "key_properties": list(sink.key_properties or ()),
            "columns": [
                [
                    c.prop,
                    c.name,
                    c.blank_is_null,
                    _field_parts(c.field),
                    _field_parts(c.parent_field),
                ]
                for c in mapper.columns
            ],
            "settings": repr(sink.settings),
            "sdk": [
                sink.validate_schema,
                str(sink.datetime_error_treatment),
                sink.include_sdc_metadata_properties,
            ],
            "versions": [_version("target-salesforce-out"), _version("singer-sdk")],
        }
    )


class SinkLedger:
    """One sink's use of the ledger (see the module docstring)."""

    def __init__(self, sink: SalesforceSink, stream: StreamLedger, key: KeyFunctions) -> None:
        """Use :meth:`for_sink`."""
        self._sink = sink
        self.stream = stream
        self._key_from_fields, self._key_from_record = key
        self._inserts = sink.operation is Operation.INSERT
        # An empty stream ledger has nothing to compare with: no lookup per record.
        self._lookups = stream.skips and stream.count() > 0
        # Keys seen in this run matter for a repeated key (with lookups), for kept records
        # of earlier runs (superseded when sent again), and for mirror (what a version lacks).
        self._tracks_seen = self._lookups or stream.has_kept or sink.settings.mirror
        # (key, digest) of records converted but not confirmed, by identity (REST batches
        # and Bulk rows not yet written to their job file), and kept records offered again in
        # this run (key -> offers made including this one). Shared by the stream's sinks: an
        # api auto stream converts in its REST sink and may write through its Bulk side.
        self._pending = stream.pending
        self._offered = stream.offered
        # Insert records to update by their remembered Id (Bulk: sent over REST), and what
        # sends them (see ledger_updates).
        self._deferred: list[Item] = []
        self.send_updates: Callable[[list[Item]], None] | None = None
        # Whether records' raw digests are stored (``keeps_raw``) and compared before any
        # record work (``fast``); see use_raw.
        self.keeps_raw = False
        self.fast = False
        # The raw digest of the record singer-sdk is processing now (set by the target).
        self.raw_next: bytes | None = None

    def use_raw(self, payload_signature: str) -> None:
        """Decide whether this sink stores raw digests and skips by them (the fast path).

        Not for a stream that maps ``_sdc_*`` properties (the raw digest leaves them out), nor
        in a dry run. The fast path needs the stored raw signature to hold and entries to
        compare with.
        """
        sink = self._sink
        if sink.runtime.dry_run or any(c.prop.startswith("_sdc_") for c in sink.mapper.columns):
            return
        fast = self.stream.use_raw_signature(raw_signature(sink, payload_signature))
        self.keeps_raw = self.stream.keeps_raw
        self.fast = fast and self.keeps_raw and self._lookups

    @classmethod
    def for_sink(cls, sink: SalesforceSink) -> SinkLedger | None:
        """The sink's ledger, or None without ``ledger_path`` or a usable key (logged once)."""
        ledger = sink.runtime.ledger
        if ledger is None:
            return None
        key = _key_functions(sink)
        if key is None:
            LOGGER.warning(
                "stream %r: no key (no external_id_field, match_fields or key_properties), so "
                "the ledger does not apply: every record is sent",
                sink.stream_name,
            )
            return None
        mapper = sink.mapper
        signature = signature_of(
            {
                "sobject": sink.obj.name,
                "operation": sink.operation.value,
                "key": mapper.key_column.name if mapper.key_column is not None else None,
                "match": [c.name for c in mapper.match_columns],
                "columns": sorted((c.prop, c.name) for c in mapper.columns),
                "constants": mapper.constants,
                "key_properties": list(sink.key_properties or ()),
            }
        )
        stream = ledger.stream(sink.stream_name, sobject=sink.obj.name, signature=signature)
        hook = cls(sink, stream, key)
        hook.use_raw(signature)
        return hook

    # -- the record path ------------------------------------------------------------------

    def skips_raw(self, record: dict[str, Any]) -> bool:
        """The fast path, before singer-sdk's record work: True when ``record`` is unchanged.

        ``record`` is the message's, as received. True: its raw digest is the one stored with
        its key's confirmed payload and the key was not seen earlier in this run; the caller
        counts it (see ``SalesforceSink.skipped_unchanged``). False: its raw digest waits in
        :attr:`raw_next` for :meth:`offer`, which stores it with the confirmation.
        """
        # A row deleted at the source is never "unchanged": its delete must be sent.
        if record.get("_sdc_deleted_at"):
            return False
        raw = raw_digest(record)
        if self.fast:
            try:
                key = self._key_from_record(record)
            except Exception:  # a value the record path rejects, with its own message
                key = None
            if key is not None and self.stream.unchanged_raw(key, raw):
                return True
        self.raw_next = raw
        return False

    def offer(self, record: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any] | None:
        """The fields to send for ``record``, or None when it is unchanged (counted, skipped)."""
        raw, self.raw_next = self.raw_next, None
        key = self._key_from_fields(record, fields)
        if key is None:
            return fields
        stream = self.stream
        digest = payload_digest(fields)
        # A row deleted at the source is never "unchanged": its delete must be sent.
        deleted = bool(record.get("_sdc_deleted_at"))
        remembered = stream.digest_of(key) if self._lookups and not deleted else None
        if self._tracks_seen:
            stream.seen(key)
        dry_run = self._sink.runtime.dry_run
        if remembered is not None:
            # A key repeated in this run: the earlier record may not be confirmed yet.
            if remembered.digest == digest and not remembered.again:
                self._sink.count(Count.UNCHANGED)
                if raw is not None and remembered.raw != raw and not dry_run:
                    # The same payload from another raw record (or the raw digests were
                    # dropped): remember this one, so the next run's fast path knows it.
                    stream.confirm(key, digest + raw, None)
                return None
            if self._inserts and remembered.sf_id:
                fields = {**fields, "Id": remembered.sf_id}
        if not dry_run:
            self._pending[id(record)] = (key, digest if raw is None else digest + raw)
        return fields

    def attach(self, record: dict[str, Any], record_json: bytes) -> bytes:
        """The stored form of a Bulk row: its ledger note in front of the record's JSON."""
        entry = self._pending.pop(id(record), None)
        return record_json if entry is None else attach_note(entry[0], entry[1], record_json)

    def confirmed(
        self,
        record: dict[str, Any],
        outcome: Count,
        salesforce_id: str | None,
        note: tuple[str, bytes] | None = None,
    ) -> None:
        """Salesforce wrote ``record``: remember its digest and Id, or forget a deleted key."""
        entry = self._pending.pop(id(record), None) if note is None else note
        if outcome in (Count.DELETED, Count.ALREADY_DELETED):
            key = entry[0] if entry is not None else self._key_from_record(record)
            if key is not None:
                self.stream.forget([key])
            return
        if entry is None:
            # Re-sent through another path (duplicates over REST): only its Id is certain.
            key = self._key_from_record(record)
            if key is not None and salesforce_id:
                self.stream.confirm(key, None, salesforce_id)
            return
        self.stream.confirm(entry[0], entry[1], salesforce_id)

    def rejected(self, record: dict[str, Any], detail: ErrorDetail) -> None:
        """Keep ``record`` to offer it again next run when its rejection can pass."""
        entry = self._pending.pop(id(record), None)
        if self._sink.runtime.dry_run:
            return
        key = entry[0] if entry is not None else self._key_from_record(record)
        if key is None:
            return
        # Rejected, but sent by the tap: part of the version mirror compares with.
        self.stream.seen(key)
        offered = self._offered.get(key)
        if retry_later(detail, self._sink.operation):
            self.stream.keep(key, record, detail.code, offered or 0)
        elif offered is not None:
            self.stream.drop_kept(key)

    def flush(self) -> None:
        """After each call's (or Bulk block's) answers: commit what creates remember.

        A create whose Id is lost would be created again on a replay, so an insert stream
        commits its confirmations after every call. An upsert, update or delete sent again is
        harmless: those are written in large blocks and committed with STATE and at the end.
        """
        if self._inserts:
            self.stream.flush()
        else:
            self.stream.write_if_many()

    # -- kept records offered again --------------------------------------------------------

    def kept_records(self) -> Iterator[dict[str, Any]]:
        """The kept records of earlier runs to offer again now (after the tap's records)."""
        for kept in self.stream.to_offer():
            record: dict[str, Any] = json.loads(kept.record, parse_float=Decimal)
            self._offered[kept.key] = kept.attempts + 1
            self._sink.count(Count.RETRIED_FROM_LEDGER)
            yield record

    # -- inserts updated by their remembered Id, from a Bulk insert stream -------------------

    def defer(self, item: Item) -> bool:
        """Hold an insert row that has a remembered Id (True) for :meth:`send_deferred`."""
        if "Id" not in item.fields:
            return False
        self._deferred.append(item)
        if len(self._deferred) >= REST_MAX_BATCH:
            self.send_deferred()
        return True

    def send_deferred(self) -> None:
        """Send the held rows with :attr:`send_updates` (set by the Bulk sink)."""
        items, self._deferred = self._deferred, []
        if items and self.send_updates is not None:
            self.send_updates(items)

    def unsent(self) -> list[Item]:
        """Held rows never sent (the run is ending): the caller dead-letters them."""
        items, self._deferred = self._deferred, []
        return items


def offer_kept(sinks: Iterable[Any], process_record: Callable[[dict[str, Any]], None]) -> None:
    """Offer each stream's kept records again, as RECORD messages, once per stream."""
    done: set[str] = set()
    for sink in list(sinks):
        hook = getattr(sink, "ledger", None)
        if not isinstance(hook, SinkLedger) or sink.stream_name in done:
            continue
        done.add(sink.stream_name)
        for record in hook.kept_records():
            process_record({"type": "RECORD", "stream": sink.stream_name, "record": record})


# -- keys ---------------------------------------------------------------------------------------


def _convert_one(column: Column, value: Any) -> Any:
    """One property converted as the mapper converts it (None when it cannot be)."""
    if column.blank_is_null and value == "":
        value = None
    if value is None:
        return None
    try:
        return column.convert(value)
    except ValueProblemError:
        return None


def _key_functions(sink: SalesforceSink) -> KeyFunctions | None:
    """(key from a record and its converted fields, key from the record alone), or None."""
    mapper, op = sink.mapper, sink.operation
    key_column = mapper.key_column
    if op is not Operation.INSERT and key_column is not None and op.needs_key:
        column = key_column
        key_type = sink.key_type(column.name)

        def by_field(record: dict[str, Any], fields: dict[str, Any]) -> str | None:
            return key_of(fields.get(column.name), key_type)

        def by_field_record(record: dict[str, Any]) -> str | None:
            if column.prop not in record:
                return None
            return key_of(_convert_one(column, record[column.prop]), key_type)

        return by_field, by_field_record
    if mapper.match_columns:
        columns = list(mapper.match_columns)
        types = [c.field.type for c in columns]

        def matched(values: list[Any]) -> str | None:
            key = match_key(values, types)
            return json.dumps(key) if any(k is not None for k in key) else None

        def by_match(record: dict[str, Any], fields: dict[str, Any]) -> str | None:
            return matched([fields.get(c.name) for c in columns])

        def by_match_record(record: dict[str, Any]) -> str | None:
            return matched([_convert_one(c, record.get(c.prop)) for c in columns])

        return by_match, by_match_record
    props = list(sink.key_properties or ())
    if op is Operation.INSERT and props:

        def by_props_record(record: dict[str, Any]) -> str | None:
            values = [record.get(p) for p in props]
            if any(v is None or v == "" for v in values):
                return None
            # The dead-letter encoding: a live record and one read back from a Bulk job's
            # index (dates as text) give the same key.
            return RECORD_ENCODER.encode(values).decode()

        def by_props(record: dict[str, Any], fields: dict[str, Any]) -> str | None:
            return by_props_record(record)

        return by_props, by_props_record
    return None
