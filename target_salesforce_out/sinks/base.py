"""What every sink shares: setup against describe, record checks, rejection, batch outcome.

Records are checked against their SCHEMA here rather than by singer-sdk's validator so that an
invalid record is dead-lettered like any other rejected record instead of ending the run, and
the run's outcome (``on_record_error``) is decided once per batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers._typing import get_datelike_property_type
from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.sinks import BatchSink

from target_salesforce_out.errors import ConfigError, ErrorDetail, RecordsFailedError
from target_salesforce_out.ids import id_problem, to18
from target_salesforce_out.mapping import RecordMapper, RecordRejectedError
from target_salesforce_out.reporting import NOT_SENT
from target_salesforce_out.settings import stream_settings
from target_salesforce_out.soql import find_ids, key_of, query_all, quote
from target_salesforce_out.validation import RecordValidator

if TYPE_CHECKING:
    from target_salesforce_out.runtime import Runtime

LOGGER = logging.getLogger("target_salesforce_out")

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
        # Records converted but without an outcome yet, by identity (see account_unfinished).
        self._outstanding: dict[int, dict[str, Any]] = {}
        self._flushing = False
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
        """Resolve ``record_type`` (or the person account record type) to an id, once.

        ``record_type`` may be a DeveloperName, a Name or an Id (15 or 18 characters).
        Candidates that share one DeveloperName are one record type as far as a user can
        tell (a real org's describe has listed its person account type twice that way), so
        the first by Id is taken; candidates that differ must be told apart by a setting.
        """
        wanted, person = self.settings.record_type, self.settings.person_account
        if not wanted and not person:
            return
        # The only literal goes through quote().
        where = f"WHERE SobjectType = {quote(self.obj.name)} AND IsActive = true"
        soql = "SELECT Id, DeveloperName, Name, IsPersonType FROM RecordType " + where  # noqa: S608
        rows = sorted(query_all(self.runtime.client, soql), key=lambda r: str(r.get("Id")))
        if wanted:
            wanted_id = to18(wanted) if id_problem(wanted) is None else None
            rows = [
                r
                for r in rows
                if wanted in (r.get("DeveloperName"), r.get("Name"))
                or (wanted_id is not None and to18(str(r.get("Id"))) == wanted_id)
            ]
        if person:
            rows = [r for r in rows if r.get("IsPersonType")]
        kind = "person account record type" if person else "record type"
        if not rows:
            named = f" named {wanted!r}" if wanted else ""
            raise ConfigError(
                f"stream {self.stream_name!r}: no active {kind}{named} on {self.obj.name}"
            )
        if len({r.get("DeveloperName") for r in rows}) > 1:
            shown = "; ".join(
                f"Name {r.get('Name')!r}, DeveloperName {r.get('DeveloperName')}, Id {r.get('Id')}"
                for r in rows
            )
            raise ConfigError(
                f"stream {self.stream_name!r}: several {kind}s match ({shown}); set record_type "
                "to the DeveloperName or Id of the one to use"
            )
        if len(rows) > 1:
            LOGGER.info(
                "stream %r: %d active %ss share DeveloperName %s; using Id %s",
                self.stream_name,
                len(rows),
                kind,
                rows[0].get("DeveloperName"),
                rows[0]["Id"],
            )
        self.mapper.constants["RecordTypeId"] = rows[0]["Id"]

    def flush_parents(self) -> None:
        """Write pending records of streams this one references, so lookups find them.

        Streams that reference each other (Account's primary Contact, Contact's Account)
        would flush each other without end; a parent that is itself flushing its parents
        further up the call stack is in such a cycle with this stream and is skipped.
        """
        if self._flushing:
            return
        self._flushing = True
        try:
            for sink in self.runtime.active_sinks():
                if sink is self or sink.obj.name.lower() not in self.parents or sink._flushing:
                    continue
                if sink.current_size:
                    self.runtime.drain(sink)
                sink.wait_for_jobs()  # a drained batch's calls may still be running
        finally:
            self._flushing = False

    # singer-sdk hooks ------------------------------------------------------------------

    def get_validator(self) -> RecordValidator | None:
        """The stream's record validator: jsonschema's verdicts, mostly at fastjsonschema's speed.

        singer-sdk keeps it as ``_validator``; :meth:`_validate_and_parse` calls it so that
        an invalid record is dead-lettered instead of ending the run.
        """
        if not self.validate_schema:
            return None
        return RecordValidator(self.schema, stream=self.stream_name)

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
        except Exception:
            record[_REJECTION] = self._bad_datelike(record)
        return record

    def _bad_datelike(self, record: dict[str, Any]) -> ErrorDetail:
        """Which date-like property could not be read, and the form it should have."""
        expected = {
            "date": "YYYY-MM-DD, e.g. 2024-01-31",
            "time": "HH:MM:SS, e.g. 13:45:00",
            "date-time": "ISO 8601, e.g. 2024-01-31T13:45:00Z or 2024-01-31T13:45:00+02:00",
        }
        for prop, prop_schema in self._datelike.items():
            value = record.get(prop)
            if value is None:
                continue
            try:
                super()._parse_timestamps_in_record(
                    {prop: value},
                    {"properties": {prop: prop_schema}},
                    self.datetime_error_treatment,
                )
            except Exception:
                kind = get_datelike_property_type(prop_schema) or "date-time"
                return ErrorDetail(
                    "INVALID_RECORD",
                    f"property {prop!r}: not a {kind}: {value!r} (expected "
                    f"{expected.get(kind, expected['date-time'])})",
                    tuple(self._field_names(prop)),
                )
        return ErrorDetail("INVALID_RECORD", "a date or time value could not be read")

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

    @property
    def _needs_key(self) -> bool:
        """Whether every record must carry a key value (upsert by Id without one creates)."""
        key = self.mapper.key_column
        op = self.settings.operation
        return key is not None and (
            op not in {"insert", "upsert"} or (op == "upsert" and key.name != "Id")
        )

    def _singer_validate_message(self, record: dict[str, Any]) -> None:
        # The key field's own property is checked after conversion, with the same message
        # for absent, null and empty values (see process_record).
        key = self.mapper.key_column
        own = key.prop if key is not None and self._needs_key else None
        missing = [k for k in self.key_properties if k not in record and k != own]
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
        key = self.mapper.key_column
        if key is not None and self._needs_key and prepared.get(key.name) in (None, ""):
            # Checked here, before any call: Salesforce would answer without naming the record.
            self.reject(record, self.no_key(key.name, record), source="target")
            return
        if self.tracks_in_memory:
            with self._failures_lock:
                self._outstanding[id(record)] = record
        context.setdefault("items", []).append((record, prepared))

    def process_batch(self, context: dict[str, Any]) -> None:
        """Write the batch, then apply ``on_record_error`` to what failed."""
        items: list[Item] = context.get("items") or []
        self.flush_parents()
        if items:
            if self.runtime.dry_run:
                self.dry_run_batch(items)
                for record, _ in items:
                    self.settle(record)  # counted as would-be, or rejected
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

    # Whether converted records wait in memory until their outcome (REST batches do; Bulk
    # rows wait in job files on disk and are accounted for by the Bulk sink).
    tracks_in_memory = True

    def confirm(self, record: dict[str, Any], outcome: str, salesforce_id: str | None) -> None:
        """Salesforce wrote ``record`` (``created``/``updated``/``deleted``): count and list it."""
        self.runtime.report.succeed(
            self.stream_name, outcome, self.mapper.key_values(record), salesforce_id
        )
        self.settle(record)

    def settle(self, record: dict[str, Any]) -> None:
        """``record`` has its outcome (written, counted or rejected)."""
        with self._failures_lock:
            self._outstanding.pop(id(record), None)

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

    # shared by the sinks -----------------------------------------------------------------

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
            key=self.mapper.describe_key(record),
            job_id=job_id,
        )
        with self._failures_lock:
            self._batch_failures += 1
            self._outstanding.pop(id(record), None)


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
