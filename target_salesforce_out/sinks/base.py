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
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

# singer-sdk 0.54.9 (private module): the function Sink._parse_timestamps_in_record uses to
# tell which properties it parses, and as date, time or date-time.
from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.sinks import BatchSink

from target_salesforce_out.assignment_rules import check_object
from target_salesforce_out.errors import (
    ConfigError,
    ErrorDetail,
    RecordRejectedError,
    RecordsFailedError,
)
from target_salesforce_out.mapping import RecordMapper
from target_salesforce_out.operations import Operation
from target_salesforce_out.record_types import record_type_id
from target_salesforce_out.reporting import NOT_SENT, Count
from target_salesforce_out.settings import set_keys, stream_settings
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


class Item(NamedTuple):
    """One converted record on its way to Salesforce."""

    record: dict[str, Any]  # as received: what a rejection writes to the dead-letter file
    fields: dict[str, Any]  # converted, by wire name: what is sent


class ParentsFirst(Protocol):
    """Writes the pending records of the streams a sink references (the target's load order)."""

    def write_parents_first(self, sink: SalesforceSink) -> None:
        """Write and wait for the records of ``sink``'s parents."""


class SalesforceSink(BatchSink):
    """Base of the REST and Bulk sinks."""

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
            if self.runtime.dry_run:
                self.dry_run_batch(items)
                for record, _ in items:
                    self.settle(record)  # counted as would-be, or rejected
            else:
                self.write_batch(items)
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
        if self.tracks_in_memory:
            with self._failures_lock:
                self._outstanding[id(record)] = record
        return Item(record, prepared)

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

    def abort_open_jobs(self) -> None:
        """Abort the jobs not finished yet; the run is stopping (none here; see the Bulk sink)."""

    def account_unfinished(self) -> None:
        """Dead-letter every record that has no outcome, as never sent.

        Called once the run has stopped and no call is running any more: records still
        buffered, in calls that were cancelled, or in rounds never started. Without this a
        failed run would leave records neither written nor reported.
        """
        with self._failures_lock:
            records = list(self._outstanding.values())
        for record in records:
            detail = ErrorDetail(
                NOT_SENT, self.message(record, "the run stopped before this record was sent")
            )
            self.reject(record, detail, source="target")

    # -- outcomes ----------------------------------------------------------------------------

    def confirm(self, record: dict[str, Any], outcome: Count, salesforce_id: str | None) -> None:
        """Salesforce wrote ``record`` (``outcome``: created, updated or deleted): count, list."""
        self.runtime.report.succeed(
            self.stream_name, outcome, self.mapper.key_values(record), salesforce_id
        )
        self.settle(record)

    def settle(self, record: dict[str, Any]) -> None:
        """``record`` has its outcome (written, counted or rejected)."""
        with self._failures_lock:
            self._outstanding.pop(id(record), None)

    def count(self, count: Count, n: int = 1) -> None:
        """Add to one of this stream's counters."""
        self.runtime.report.add(self.stream_name, count, n)

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
        )
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


def split_rounds(items: list[Item], key_of: Callable[[Item], Any]) -> Iterator[list[Item]]:
    """Split so no key appears twice in a round; rounds run in order, so the last write wins."""
    rounds: list[list[Item]] = []
    seen: dict[Any, int] = {}
    for item in items:
        key = key_of(item)
        if key is None:
            index = 0
        else:
            index = seen.get(key, -1) + 1
            seen[key] = index
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(item)
    yield from rounds
