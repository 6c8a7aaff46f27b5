"""What every sink shares: setup against describe, record checks, batch outcome, key lookups.

Records are checked against their SCHEMA here rather than by singer-sdk's validator so that an
invalid record is dead-lettered like any other rejected record instead of ending the run, and
the run's outcome (``on_record_error``) is decided once per batch.

A sink never reaches another sink: before it writes a batch it asks the target's load order
(:class:`ParentsFirst`) to write the records of the streams it references.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

# singer-sdk 0.54.9 (private module): the function Sink._parse_timestamps_in_record uses to
# tell which properties it parses, and as date, time or date-time.
from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.sinks import BatchSink

from target_salesforce_out import dry_run
from target_salesforce_out.assignment_rules import check_object
from target_salesforce_out.deleted_records import DELETED_AT
from target_salesforce_out.errors import (
    ConfigError,
    ErrorDetail,
    RecordRejectedError,
    RecordsFailedError,
)
from target_salesforce_out.mapping import RecordMapper
from target_salesforce_out.operations import Operation
from target_salesforce_out.planner import Reference, references_of
from target_salesforce_out.record_types import record_type_id
from target_salesforce_out.reporting import NOT_SENT, Count
from target_salesforce_out.settings import set_keys, stream_settings
from target_salesforce_out.sinks.item import Item
from target_salesforce_out.sinks.ledger_hook import SinkLedger
from target_salesforce_out.soql import find_ids, key_of
from target_salesforce_out.validation import RecordValidator

if TYPE_CHECKING:
    from target_salesforce_out.runtime import Runtime

LOGGER = logging.getLogger("target_salesforce_out")

# What a date-like property that could not be read should have looked like.
_EXPECTED_DATELIKE = {
    "date": "YYYY-MM-DD, e.g. 2024-01-31",
    "time": "HH:MM:SS, e.g. 13:45:00",
    "date-time": "ISO 8601, e.g. 2024-01-31T13:45:00Z or 2024-01-31T13:45:00+02:00",
}


class ParentsFirst(Protocol):
    """Writes the pending records of the streams a sink references (the target's load order)."""

    def write_parents_first(self, sink: SalesforceSink) -> None:
        """Write and wait for the records of ``sink``'s parents."""


class SourceDeletesHook(Protocol):
    """What a stream does with rows deleted at the source (``sinks/deletes.py``; the target's)."""

    def prepare(self, record: dict[str, Any], marked: Any) -> Item | None:
        """The delete of a row whose ``_sdc_deleted_at`` is ``marked``, or None."""

    def write(self, items: list[Item], write_batch: Callable[[list[Item]], None]) -> None:
        """Write a batch whose items may hold deletes, each key in input order."""

    def defer(self, item: Item, finish_writes: Callable[[], None]) -> bool:
        """Keep a delete until the rows before it are written (Bulk); True if it was one."""

    def flush(self, finish_writes: Callable[[], None]) -> None:
        """Write the rows received so far (``finish_writes``), then the deletes kept."""

    def unfinished(self) -> list[tuple[dict[str, Any], str]]:
        """Records kept by the deletes that have no outcome, with their dead-letter code."""


class Deferral(Protocol):
    """Records written later than they arrive (``sinks/deferred.py``, set by the load order)."""

    def admit_all(self, items: list[Item]) -> list[Item]:
        """The items to write now; the others wait for their parents."""

    def release(self, *, final: bool) -> None:
        """Write the waiting records whose parents are written, level by level."""

    def after_write(
        self,
        record: dict[str, Any],
        outcome: Count,
        salesforce_id: str | None,
        note: tuple[str, bytes] | None,
    ) -> bool:
        """Note a written record; True when its outcome waits for a second pass."""

    def account_unfinished(self) -> None:
        """Dead-letter what still waits (the run stopped)."""

    def dry_write(self, items: list[Item], predict: Callable[[list[Item]], None]) -> None:
        """A dry run: ``predict`` writing ``items``; those not rejected count as written."""

    def rejected(self, record: dict[str, Any]) -> None:
        """``record`` was rejected (a dry run's would-be write is then not written)."""


class SalesforceSink(BatchSink):
    """Base of the REST and Bulk sinks."""

    # The lookups this stream sends (see planner.references_of), and the records it writes
    # later than they arrive (set by the load order when there are any).
    references: tuple[Reference, ...] = ()
    deferral: Deferral | None = None

    # Whether converted records wait in memory until their outcome (REST batches do; Bulk
    # rows wait in job files on disk and are accounted for by the Bulk sink).
    tracks_in_memory: ClassVar[bool] = True
    # Whether writes run as Bulk jobs that outlive the batch that started them (see
    # LoadOrder.write_parents_first).
    runs_jobs: ClassVar[bool] = False

    def __init__(
        self,
        target: Any,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        """Describe the object and resolve every property before the first record is read."""
        self.runtime: Runtime = target.runtime
        # Records the ledger skipped since the last drain (see current_size).
        self._unchanged_in_batch = 0
        self._parents_first: ParentsFirst = target.load_order
        super().__init__(target, stream_name, schema, key_properties)
        self.record_validator = (
            RecordValidator(self.schema, stream=stream_name) if self.validate_schema else None
        )
        self.settings = stream_settings(dict(target.config), stream_name)
        self.obj = self.runtime.describe_object(stream_name, self.settings.sobject)
        self.mapper = RecordMapper(
            stream_name,
            self.settings,
            self.obj,
            list(schema.get("properties") or {}),
            self.runtime.describe.sobject,
            key_properties or (),
        )
        self.operation: Operation = self.mapper.operation
        self._check_operation()
        type_id = record_type_id(
            self.runtime.client,
            stream_name,
            self.obj.name,
            self.settings.record_type,
            person=self.settings.person_account,
        )
        if type_id is not None:
            self.mapper.constants["RecordTypeId"] = type_id
        # The stream's assignment_rule (see assignment_rules.py), None when it sends nothing.
        own = set_keys((target.config.get("streams") or {}).get(stream_name))
        rule = self.settings.assignment_rule
        self.assignment_rule = (
            rule
            if rule is not None
            and check_object(stream_name, self.obj.name, set_by_stream="assignment_rule" in own)
            else None
        )
        # Objects this stream's records look up (their loads must land first); a reference
        # to the stream's own object orders nothing.
        # A polymorphic path (``Contact:Who.External_Id__c``) names its parent's object.
        self.parents = frozenset(
            (
                c.field.reference_to[0] if len(c.field.reference_to) == 1 else c.name.split(":")[0]
            ).lower()
            for c in self.mapper.columns
            if c.field.type == "reference" and (len(c.field.reference_to) == 1 or ":" in c.name)
        ) - {self.obj.name.lower()}
        self.references = references_of(
            self.mapper.columns, sends_fields=self.operation.sends_fields
        )
        # What date parsing needs, computed once instead of per record.
        properties = self.schema.get("properties") or {}
        self._schema_properties = frozenset(properties)
        self._datelike = {name: prop for name, prop in properties.items() if _is_datelike(prop)}
        self._datelike_schema = {"properties": self._datelike}
        # The check of the record being read, from _validate_and_parse and
        # _singer_validate_message to process_record (None: it passed).
        self._verdict: ErrorDetail | None = None
        self._failures_lock = threading.Lock()
        self._batch_failures = 0
        # Records converted but without an outcome yet, by identity (see account_unfinished).
        self._outstanding: dict[int, dict[str, Any]] = {}
        stats = self._stats = self.runtime.report.stream(stream_name)
        stats.sobject, stats.api, stats.operation = (
            self.obj.name,
            self.settings.api,
            self.operation.value,
        )
        # The sync ledger's view of this stream (None: no ledger_path, or no usable key).
        self.ledger = SinkLedger.for_sink(self)
        # What the dry run predicts for this stream (see dry_run.py); None in a real run.
        self.forecast = self.runtime.report.forecast(stream_name) if self.runtime.dry_run else None
        # A row deleted at the source: its _sdc_deleted_at, kept from singer-sdk's removal.
        self._deleted_at: Any = None
        self.source_deletes: SourceDeletesHook = target.source_deletes(self)

    def _check_operation(self) -> None:
        op, obj = self.operation, self.obj
        if not op.allowed_on(obj):
            raise ConfigError(f"stream {self.stream_name!r}: {obj.name} does not allow {op}")

    # -- singer-sdk 0.54.9 private members ------------------------------------------------
    #
    # singer-sdk has no public hook to check a record before its dates are parsed, nor to
    # decide what a record without its key properties does. For each record, on the reader
    # thread and in this order, Target._process_record_message calls
    # sink._validate_and_parse(record), sink.preprocess_record(record, context),
    # sink._singer_validate_message(record) and sink.process_record(record, context), and
    # ignores what _validate_and_parse returns (it works on the record in place); see
    # tests/test_singer_sdk_contract.py. The verdict of the two checks reaches
    # process_record in self._verdict.

    def _validate_and_parse(self, record: dict[str, Any]) -> dict[str, Any]:
        """Check the record against its SCHEMA, then parse its date-like values in place.

        Overrides singer-sdk's, which raises on an invalid record (ending the run); here the
        problem becomes the record's verdict and the record is dead-lettered.
        """
        self._verdict = self._check(record)
        return record

    def _singer_validate_message(self, record: dict[str, Any]) -> None:
        """Key properties missing from the record reject it (singer-sdk's raises instead).

        The key field's own property is checked after conversion, with the same message for
        absent, null and empty values (see :meth:`_prepare`).
        """
        key = self.mapper.key_column
        own = key.prop if key is not None and self._needs_key else None
        missing = [k for k in self.key_properties if k not in record and k != own]
        if missing and self._verdict is None:
            self._verdict = ErrorDetail(
                "INVALID_RECORD", f"key properties missing from the record: {', '.join(missing)}"
            )

    def _remove_sdc_metadata_from_record(self, record: dict[str, Any]) -> None:
        """singer-sdk's removal of the ``_sdc_*`` metadata, keeping ``_sdc_deleted_at`` aside.

        singer-sdk 0.54.9: with ``add_record_metadata`` off, ``Target._process_record_message``
        calls this for every record before ``_validate_and_parse``, and it pops
        ``_sdc_deleted_at`` with the rest; a row deleted at the source must still be seen
        (see :meth:`_prepare`).
        """
        self._deleted_at = record.get(DELETED_AT)
        super()._remove_sdc_metadata_from_record(record)

    def _parse_dates(self, record: dict[str, Any]) -> None:
        """singer-sdk's date parsing (``Sink._parse_timestamps_in_record``), given only dates.

        The SDK looks up every property's schema for every record; here the date-like
        properties are known from the start, and only unknown keys need the SDK's warning
        ("No schema for record field"). It raises on a value it cannot parse.
        """
        treatment = self.datetime_error_treatment
        if not record.keys() <= self._schema_properties:
            unknown = {k: v for k, v in record.items() if k not in self._schema_properties}
            self._parse_timestamps_in_record(unknown, self.schema, treatment)
        dates = {k: record[k] for k in self._datelike if record.get(k) is not None}
        if dates:
            self._parse_timestamps_in_record(dates, self._datelike_schema, treatment)
            record.update(dates)

    def _bad_datelike(self, record: dict[str, Any]) -> ErrorDetail:
        """Which date-like property could not be read, and the form it should have."""
        for prop, prop_schema in self._datelike.items():
            value = record.get(prop)
            if value is None:
                continue
            try:
                self._parse_timestamps_in_record(
                    {prop: value},
                    {"properties": {prop: prop_schema}},
                    self.datetime_error_treatment,
                )
            except Exception:
                kind = get_datelike_property_type(prop_schema) or "date-time"
                return ErrorDetail(
                    "INVALID_RECORD",
                    f"property {prop!r}: not a {kind}: {value!r} (expected "
                    f"{_EXPECTED_DATELIKE.get(kind, _EXPECTED_DATELIKE['date-time'])})",
                    tuple(self._field_names(prop)),
                )
        return ErrorDetail("INVALID_RECORD", "a date or time value could not be read")

    # -- singer-sdk public hooks -----------------------------------------------------------

    def get_validator(self) -> None:
        """None: singer-sdk does not validate records itself.

        :attr:`record_validator` (jsonschema's verdicts, mostly at fastjsonschema's speed)
        checks each record in :meth:`_validate_and_parse`, so that an invalid record is
        dead-lettered instead of ending the run.
        """
        return

    @property
    def max_size(self) -> int:
        """Records buffered before a drain: several calls' worth so they can overlap."""
        return self.settings.effective_batch_size * self.runtime.max_concurrency

    @property
    def current_size(self) -> int:
        """Records read since the last drain, less those the ledger skipped as unchanged.

        So that a run where few records changed still fills whole calls.
        """
        return max(0, super().current_size - self._unchanged_in_batch)

    def mark_drained(self) -> None:
        """singer-sdk's, and the count of skipped records starts again."""
        super().mark_drained()
        self._unchanged_in_batch = 0

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Convert one record into the batch, or reject it with its reason."""
        item = self._prepare(record)
        if item is not None:
            context.setdefault("items", []).append(item)

    def process_batch(self, context: dict[str, Any]) -> None:
        """Write the batch, then apply ``on_record_error`` to what failed."""
        items: list[Item] = context.get("items") or []
        self._parents_first.write_parents_first(self)
        if items:
            self.runtime.report.add_batch(self.stream_name, "rest", len(items))
            if self.deferral is not None:  # held ones wait for their parents, dry run or not
                items = self.deferral.admit_all(items)
            if self.runtime.dry_run:
                self.write_wave(items)  # predicted, not written (see write_wave)
            else:
                self.source_deletes.write(items, self.write_batch)
        if self.deferral is not None:
            self.deferral.release(final=False)
        self.raise_for_failures()

    # -- record checks -----------------------------------------------------------------------

    def _check(self, record: dict[str, Any]) -> ErrorDetail | None:
        """The problem that rejects ``record`` before conversion, or None; parses its dates."""
        validator = self.record_validator
        error = validator.first_error(record) if validator is not None else None
        if error is not None:
            prop = str(error.absolute_path[0]) if error.absolute_path else ""
            where = ".".join(str(p) for p in error.absolute_path) or "(record)"
            return ErrorDetail(
                "INVALID_RECORD",
                f"property {where!r} does not match the stream schema: {error.message}",
                tuple(self._field_names(prop)),
            )
        if not record.keys() <= self._schema_properties:
            unknown = self._unknown_properties(record)
            if unknown:
                return ErrorDetail(
                    "INVALID_RECORD",
                    f"properties not in the stream's SCHEMA: {', '.join(map(repr, unknown))}; "
                    "their values would be lost (unmapped_properties is error; set it to "
                    "ignore or warn to load such records without them)",
                )
        try:
            self._parse_dates(record)
        except Exception:
            return self._bad_datelike(record)
        return None

    def _unknown_properties(self, record: dict[str, Any]) -> list[str]:
        """Properties with a value that the SCHEMA does not declare, when they are an error.

        Such a value has no field to go to; dropping it silently would lose data, so with
        ``unmapped_properties: error`` (the default) the record is rejected instead.
        """
        if self.settings.unmapped_properties != "error" or self.schema.get("additionalProperties"):
            return []
        return [
            k
            for k, v in record.items()
            if k not in self._schema_properties and v is not None and not k.startswith("_sdc_")
        ]

    @property
    def _needs_key(self) -> bool:
        """Whether every record must carry a key value (upsert by Id without one creates)."""
        key = self.mapper.key_column
        op = self.operation
        return key is not None and op.needs_key and not op.creates_without(key.name)

    def _field_names(self, prop: str) -> list[str]:
        return [c.field.name for c in self.mapper.columns if c.prop == prop]

    def _prepare(self, record: dict[str, Any]) -> Item | None:
        """The record converted, or None after rejecting it (its verdict, a value, its key)."""
        # Only the reader thread counts "received", so it needs no lock (a lock per record
        # showed in profiles); other counters are changed under the report's lock.
        self._stats.add_unlocked(Count.RECEIVED)
        verdict, self._verdict = self._verdict, None
        marked, self._deleted_at = self._deleted_at or record.get(DELETED_AT), None
        if marked and self.operation.sends_fields:
            return self.source_deletes.prepare(record, marked)  # needs only its key
        if verdict is not None:
            detail = ErrorDetail(
                verdict.code, self.message(record, verdict.message), verdict.fields
            )
            self.reject(record, detail, source="target")
            return None
        try:
            prepared = self.mapper.convert(record)
        except RecordRejectedError as exc:
            self.reject(record, exc.detail, source="target")
            return None
        key = self.mapper.key_column
        if key is not None and self._needs_key and prepared.get(key.name) in (None, ""):
            # Checked here, before any call: Salesforce would answer without naming the record.
            self.reject(record, self.no_key(key.name, record), source="target")
            return None
        if self.ledger is not None:
            ledgered = self.ledger.offer(record, prepared)
            if ledgered is None:
                self._unchanged_in_batch += 1
                return None  # the payload Salesforce last confirmed: counted unchanged
            prepared = ledgered
        if self.forecast is not None:
            dry_run.note_keys(self, prepared)  # parents of other streams' records
        if self.tracks_in_memory:
            with self._failures_lock:
                self._outstanding[id(record)] = record
        return Item(record, prepared)

    def track(self, record: dict[str, Any]) -> None:
        """``record`` waits in memory for its outcome (see :meth:`account_unfinished`)."""
        if self.tracks_in_memory:
            with self._failures_lock:
                self._outstanding[id(record)] = record

    # -- what every sink does at a batch's end and the run's end ------------------------------

    def raise_for_failures(self) -> None:
        """Apply ``on_record_error`` to the records rejected since the last check.

        Raises:
            RecordsFailedError: some were rejected and ``on_record_error`` is ``fail``.
        """
        with self._failures_lock:
            failed, self._batch_failures = self._batch_failures, 0
        if failed and self.runtime.on_record_error == "fail":
            self.wait_before_failing()
            raise RecordsFailedError(
                f"stream {self.stream_name!r}: {failed} record(s) rejected in this batch "
                "(on_record_error is fail); see the dead-letter file and the run report"
            )

    def wait_before_failing(self) -> None:
        """What must end before the batch fails for its rejections (nothing here).

        A sink whose writes outlive the batch waits for them, so that an error of theirs is
        the one reported.
        """

    def wait_for_jobs(self) -> None:
        """Wait for the calls or jobs of this sink still running (none here; see the sinks)."""

    def write_wave(self, items: list[Item]) -> None:
        """Write ``items`` now and wait until every record written so far has its outcome.

        One level of a hierarchy: the next level's records look these up. A dry run predicts
        what writing them would do instead.
        """
        if self.runtime.dry_run:
            if items:
                self.dry_run_batch(items)
                for record, _ in items:
                    self.settle(record)  # counted as would-be, or rejected
            return
        if items:
            self.write_batch(items)
        self.wait_for_jobs()

    def abort_open_jobs(self) -> None:
        """Abort the jobs not finished yet; the run is stopping (none here; see the Bulk sink)."""

    def account_unfinished(self) -> None:
        """Dead-letter every record that has no outcome, as never sent.

        Called once the run has stopped and no call is running any more: records still
        buffered, in calls that were cancelled, or in rounds never started. Without this a
        failed run would leave records neither written nor reported.
        """
        if self.deferral is not None:
            self.deferral.account_unfinished()
        with self._failures_lock:
            records = list(self._outstanding.values())
        for record in records:
            detail = ErrorDetail(
                NOT_SENT, self.message(record, "the run stopped before this record was sent")
            )
            self.reject(record, detail, source="target")

    # -- outcomes ----------------------------------------------------------------------------

    def confirm(
        self,
        record: dict[str, Any],
        outcome: Count,
        salesforce_id: str | None,
        note: tuple[str, bytes] | None = None,
    ) -> None:
        """Salesforce wrote ``record`` (``outcome``: created, updated or deleted): count, list.

        ``note``: the record's ledger key and digest when they travelled with it (Bulk rows).
        """
        if self.deferral is not None and self.deferral.after_write(
            record, outcome, salesforce_id, note
        ):
            return  # its deferred lookups are set in a second pass, which decides its outcome
        self.runtime.report.succeed(
            self.stream_name, outcome, self.mapper.key_values(record), salesforce_id
        )
        if self.ledger is not None:
            self.ledger.confirmed(record, outcome, salesforce_id, note)
        self.settle(record)

    def settle(self, record: dict[str, Any]) -> None:
        """``record`` has its outcome (written, counted or rejected)."""
        with self._failures_lock:
            self._outstanding.pop(id(record), None)

    def count(self, count: Count, n: int = 1) -> None:
        """Add to one of this stream's counters."""
        self.runtime.report.add(self.stream_name, count, n)

    def skipped_unchanged(self) -> None:
        """The ledger's fast path skipped a record before singer-sdk's record work.

        Counted as the record path counts an unchanged record: singer-sdk's read tally and
        record metric, ``received`` and ``unchanged`` (reader thread only, as in _prepare).
        """
        self.tally_record_read()
        self.record_counter_metric.increment()
        self._unchanged_in_batch += 1
        self._stats.add_unlocked(Count.RECEIVED)
        self._stats.add_unlocked(Count.UNCHANGED)

    def reject(
        self,
        record: dict[str, Any],
        detail: ErrorDetail,
        *,
        source: str,
        job_id: str | None = None,
    ) -> None:
        """Dead-letter ``record`` and count it against the current batch (thread-safe)."""
        self.runtime.report.reject(
            self.stream_name,
            record,
            detail,
            source=source,
            sobject=self.obj.name,
            operation=self.operation.value,
            key=self.mapper.describe_key(record),
            job_id=job_id,
            schema=(self.original_schema, list(self.key_properties or ())),
        )
        if self.ledger is not None:
            self.ledger.rejected(record, detail)
        if self.deferral is not None:
            self.deferral.rejected(record)
        with self._failures_lock:
            self._batch_failures += 1
            self._outstanding.pop(id(record), None)

    # -- shared by the sinks -----------------------------------------------------------------

    def key_name(self) -> str | None:
        """Wire name of the key field (external id or Id), if the stream has one."""
        key = self.mapper.key_column
        return key.name if key is not None else None

    def message(self, record: dict[str, Any], text: str) -> str:
        """A rejection message naming the stream and the record's key."""
        return f"stream {self.stream_name!r}, record {self.mapper.describe_key(record)}: {text}"

    def no_key(self, key: str, record: dict[str, Any] | None = None) -> ErrorDetail:
        """The rejection of a record that has no value for its key field.

        One message whether the property is absent, null or empty text, so the same
        mistake reads the same way in every dead-letter line.
        """
        column = self.mapper.key_column
        prop = f" (property {column.prop!r} is absent, null or empty)" if column else ""
        where = f", record {self.mapper.describe_key(record)}" if record is not None else ""
        return ErrorDetail(
            "MISSING_KEY",
            f"stream {self.stream_name!r}{where}: no value for the key field {key}{prop}",
            (key,),
        )

    def key_type(self, key: str) -> str:
        """Describe type of the key field ``key``: how its values are compared (see key_of)."""
        field = self.obj.field(key)
        return field.type if field is not None else "string"

    def existing(self, items: list[Item], key: str) -> dict[str, list[str]]:
        """Ids of the org's records holding each item's ``key`` value (one query per chunk).

        Keyed by :func:`key_of` with the field's type, so an external id ``5`` finds the
        record whose number field holds ``5.0``.
        """
        values = [fields[key] for _, fields in items if fields.get(key) is not None]
        if not values:
            return {}
        return find_ids(self.runtime.client, self.obj.name, key, values, self.key_type(key))

    def with_ids(self, items: list[Item], key: str) -> list[Item]:
        """Give each item the Id of the one record holding its ``key`` value, or reject it."""
        found = self.existing(items, key)
        key_type = self.key_type(key)
        ready: list[Item] = []
        for record, fields in items:
            value = fields.get(key)
            if value is None:
                self.reject(record, self.no_key(key, record), source="target")
                continue
            ids = found.get(key_of(value, key_type) or "")
            if not ids:
                text = f"no {self.obj.name} has {key}={value!r}"
                detail = ErrorDetail("NOT_FOUND", self.message(record, text), (key,))
                self.reject(record, detail, source="target")
            elif len(ids) > 1:
                text = f"{len(ids)} records have {key}={value!r}: {', '.join(ids)}"
                detail = ErrorDetail("DUPLICATE_EXTERNAL_ID", self.message(record, text), (key,))
                self.reject(record, detail, source="target")
            else:
                ready.append(Item(record, {**fields, "Id": ids[0]}))
        return ready

    # -- for subclasses ----------------------------------------------------------------------

    def write_batch(self, items: list[Item]) -> None:
        """Send the batch to Salesforce; count and reject per record."""
        raise NotImplementedError

    def dry_run_batch(self, items: list[Item]) -> None:
        """Count what the batch would do without writing anything."""
        raise NotImplementedError


def _is_datelike(prop: Any) -> bool:
    """Whether singer-sdk parses values of this property into date/time objects."""
    return isinstance(prop, dict) and get_datelike_property_type(prop) is not None
