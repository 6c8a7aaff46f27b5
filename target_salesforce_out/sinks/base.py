"""What every sink shares: setup against describe, record checks, rejection, batch outcome.

Records are checked against their SCHEMA here rather than by singer-sdk's validator so that an
invalid record is dead-lettered like any other rejected record instead of ending the run, and
the run's outcome (``on_record_error``) is decided once per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.sinks import BatchSink

from target_salesforce_out.errors import ConfigError, ErrorDetail, RecordsFailedError
from target_salesforce_out.mapping import RecordMapper, RecordRejectedError
from target_salesforce_out.settings import stream_settings
from target_salesforce_out.soql import find_ids, key_of, query_all, quote
from target_salesforce_out.validation import RecordValidator

if TYPE_CHECKING:
    from target_salesforce_out.runtime import Runtime

# A record that failed a check before it reached process_record carries its error here.
_REJECTION = "__target_salesforce_out_rejection__"

Item = tuple[dict[str, Any], dict[str, Any]]  # (record as received, converted fields)


class SalesforceSink(BatchSink):
    """Base of the REST and Bulk sinks."""

    def __init__(
        self,
        target: Any,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: list[str] | None,
    ) -> None:
        """Describe the object and resolve every property before the first record is read."""
        self.runtime: Runtime = target.runtime
        super().__init__(target, stream_name, schema, key_properties)
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
        self._check_operation()
        self._set_record_type()
        self.parents = {
            c.field.reference_to[0].lower()
            for c in self.mapper.columns
            if c.field.type == "reference" and len(c.field.reference_to) == 1
        } - {self.obj.name.lower()}
        # What _parse_timestamps_in_record needs, computed once instead of per record.
        properties = self.schema.get("properties") or {}
        self._schema_properties = frozenset(properties)
        self._datelike = {name: prop for name, prop in properties.items() if _is_datelike(prop)}
        self._datelike_schema = {"properties": self._datelike}
        self._failures_lock = threading.Lock()
        self._batch_failures = 0
        stats = self._stats = self.runtime.report.stream(stream_name)
        stats.sobject, stats.api, stats.operation = (
            self.obj.name,
            self.settings.api,
            self.settings.operation,
        )
        self.runtime.register_sink(self)

    def _check_operation(self) -> None:
        op, obj = self.settings.operation, self.obj
        allowed = {
            "insert": obj.createable,
            "update": obj.updateable,
            "upsert": obj.createable and obj.updateable,
            "delete": obj.deletable,
            "hard_delete": obj.deletable,
        }
        if not allowed[op]:
            raise ConfigError(f"stream {self.stream_name!r}: {obj.name} does not allow {op}")

    def _set_record_type(self) -> None:
        """Resolve ``record_type`` (or the person account record type) to an id, once."""
        wanted, person = self.settings.record_type, self.settings.person_account
        if not wanted and not person:
            return
        # The only literal goes through quote().
        where = f"WHERE SobjectType = {quote(self.obj.name)} AND IsActive = true"
        soql = "SELECT Id, DeveloperName, Name, IsPersonType FROM RecordType " + where  # noqa: S608
        rows = query_all(self.runtime.client, soql)
        if wanted:
            rows = [r for r in rows if wanted in (r.get("DeveloperName"), r.get("Name"))]
        if person:
            rows = [r for r in rows if r.get("IsPersonType")]
        kind = "person account record type" if person else "record type"
        if not rows:
            named = f" named {wanted!r}" if wanted else ""
            raise ConfigError(
                f"stream {self.stream_name!r}: no active {kind}{named} on {self.obj.name}"
            )
        if len(rows) > 1:
            names = ", ".join(str(r.get("DeveloperName")) for r in rows)
            raise ConfigError(
                f"stream {self.stream_name!r}: several {kind}s match ({names}); set record_type"
            )
        self.mapper.constants["RecordTypeId"] = rows[0]["Id"]

    def flush_parents(self) -> None:
        """Write pending records of streams this one references, so lookups find them."""
        for sink in self.runtime.active_sinks():
            if sink is not self and sink.obj.name.lower() in self.parents:
                if sink.current_size:
                    self.runtime.drain(sink)
                sink.wait_for_jobs()  # a drained batch's calls may still be running

    # singer-sdk hooks ------------------------------------------------------------------

    def get_validator(self) -> RecordValidator | None:
        """The stream's record validator: jsonschema's verdicts, mostly at fastjsonschema's speed.

        singer-sdk keeps it as ``_validator``; :meth:`_validate_and_parse` calls it so that
        an invalid record is dead-lettered instead of ending the run.
        """
        return RecordValidator(self.schema) if self.validate_schema else None

    def _validate_and_parse(self, record: dict[str, Any]) -> dict[str, Any]:
        validator = self._validator
        error = validator.first_error(record) if isinstance(validator, RecordValidator) else None
        if error is not None:
            prop = str(error.absolute_path[0]) if error.absolute_path else ""
            where = ".".join(str(p) for p in error.absolute_path) or "(record)"
            record[_REJECTION] = ErrorDetail(
                "INVALID_RECORD",
                f"property {where!r} does not match the stream schema: {error.message}",
                tuple(self._field_names(prop)),
            )
            return record
        if not record.keys() <= self._schema_properties:
            unknown = self._unknown_properties(record)
            if unknown:
                record[_REJECTION] = ErrorDetail(
                    "INVALID_RECORD",
                    f"properties not in the stream's SCHEMA: {', '.join(map(repr, unknown))}; "
                    "their values would be lost (unmapped_properties is error; set it to "
                    "ignore or warn to load such records without them)",
                )
                return record
        try:
            self._parse_timestamps_in_record(record, self.schema, self.datetime_error_treatment)
        except Exception as exc:
            record[_REJECTION] = ErrorDetail("INVALID_RECORD", f"bad date or time: {exc}")
        return record

    def _parse_timestamps_in_record(
        self,
        record: dict[str, Any],
        schema: dict[str, Any],
        treatment: DatetimeErrorTreatmentEnum,
    ) -> None:
        """singer-sdk's parsing, given only the date-like values.

        The SDK looks up every property's schema for every record; here the date-like
        properties are known from the start, and only unknown keys need the SDK's warning.
        """
        if schema is not self.schema:
            super()._parse_timestamps_in_record(record, schema, treatment)
            return
        if not record.keys() <= self._schema_properties:
            unknown = {k: v for k, v in record.items() if k not in self._schema_properties}
            super()._parse_timestamps_in_record(unknown, schema, treatment)
        dates = {k: record[k] for k in self._datelike if record.get(k) is not None}
        if dates:
            super()._parse_timestamps_in_record(dates, self._datelike_schema, treatment)
            record.update(dates)

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

    def _singer_validate_message(self, record: dict[str, Any]) -> None:
        missing = [k for k in self.key_properties if k not in record]
        if missing and _REJECTION not in record:
            record[_REJECTION] = ErrorDetail(
                "INVALID_RECORD", f"key properties missing from the record: {', '.join(missing)}"
            )

    def _field_names(self, prop: str) -> list[str]:
        return [c.field.name for c in self.mapper.columns if c.prop == prop]

    @property
    def max_size(self) -> int:
        """Records buffered before a drain: several calls' worth so they can overlap."""
        return self.settings.effective_batch_size * self.runtime.max_concurrency

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        """Convert one record, or reject it with its reason."""
        # Only the reader thread counts "received", so it needs no lock (a lock per record
        # showed in profiles); other counters are changed under the report's lock.
        self._stats.received += 1
        rejection = record.pop(_REJECTION, None)
        if rejection is not None:
            message = (
                f"stream {self.stream_name!r}, record {self.mapper.describe_key(record)}: "
                f"{rejection.message}"
            )
            detail = ErrorDetail(rejection.code, message, rejection.fields)
            self.reject(record, detail, source="target")
            return
        try:
            prepared = self.mapper.convert(record)
        except RecordRejectedError as exc:
            self.reject(record, exc.detail, source="target")
            return
        context.setdefault("items", []).append((record, prepared))

    def process_batch(self, context: dict[str, Any]) -> None:
        """Write the batch, then apply ``on_record_error`` to what failed."""
        items: list[Item] = context.get("items") or []
        self.flush_parents()
        if items:
            if self.runtime.dry_run:
                self.dry_run_batch(items)
            else:
                self.write_batch(items)
        self.raise_for_failures()

    def raise_for_failures(self) -> None:
        """Apply ``on_record_error`` to the records rejected since the last check.

        Raises:
            RecordsFailedError: some were rejected and ``on_record_error`` is ``fail``.
        """
        with self._failures_lock:
            failed, self._batch_failures = self._batch_failures, 0
        if failed and self.runtime.on_record_error == "fail":
            raise RecordsFailedError(
                f"stream {self.stream_name!r}: {failed} record(s) rejected in this batch "
                "(on_record_error is fail); see the dead-letter file and the run report"
            )

    def wait_for_jobs(self) -> None:
        """Wait for the calls of this sink still running (none here; see the subclasses)."""

    # shared by the sinks -----------------------------------------------------------------

    def key_name(self) -> str | None:
        """Wire name of the key field (external id or Id), if the stream has one."""
        key = self.mapper.key_column
        return key.name if key is not None else None

    def message(self, record: dict[str, Any], text: str) -> str:
        """A rejection message naming the stream and the record's key."""
        return f"stream {self.stream_name!r}, record {self.mapper.describe_key(record)}: {text}"

    def no_key(self, key: str) -> ErrorDetail:
        """The rejection of a record that has no value for its key field."""
        return ErrorDetail(
            "MISSING_KEY", f"stream {self.stream_name!r}: the record has no value for {key}", (key,)
        )

    def existing(self, items: list[Item], key: str) -> dict[str, list[str]]:
        """Ids of the org's records holding each item's ``key`` value (one query per chunk)."""
        values = [fields[key] for _, fields in items if fields.get(key) is not None]
        return find_ids(self.runtime.client, self.obj.name, key, values) if values else {}

    def with_ids(self, items: list[Item], key: str) -> list[Item]:
        """Give each item the Id of the one record holding its ``key`` value, or reject it."""
        found = self.existing(items, key)
        ready: list[Item] = []
        for record, fields in items:
            value = fields.get(key)
            if value is None:
                self.reject(record, self.no_key(key), source="target")
                continue
            ids = found.get(key_of(value))
            if not ids:
                text = f"no {self.obj.name} has {key}={value!r}"
                detail = ErrorDetail("NOT_FOUND", self.message(record, text), (key,))
                self.reject(record, detail, source="target")
            elif len(ids) > 1:
                text = f"{len(ids)} records have {key}={value!r}: {', '.join(ids)}"
                detail = ErrorDetail("DUPLICATE_EXTERNAL_ID", self.message(record, text), (key,))
                self.reject(record, detail, source="target")
            else:
                ready.append((record, {**fields, "Id": ids[0]}))
        return ready

    # for subclasses ----------------------------------------------------------------------

    def write_batch(self, items: list[Item]) -> None:
        """Send the batch to Salesforce; count and reject per record."""
        raise NotImplementedError

    def dry_run_batch(self, items: list[Item]) -> None:
        """Count what the batch would do without writing anything."""
        raise NotImplementedError

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
            operation=self.settings.operation,
            job_id=job_id,
        )
        with self._failures_lock:
            self._batch_failures += 1


def _is_datelike(prop: Any) -> bool:
    """Whether singer-sdk parses values of this property into date/time objects."""
    return isinstance(prop, dict) and get_datelike_property_type(prop) is not None


def split_rounds(items: list[Item], key_of: Any) -> Iterator[list[Item]]:
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
