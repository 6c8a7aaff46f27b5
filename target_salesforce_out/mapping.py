"""Property -> field resolution, checks against describe, and value conversion.

Everything that can be known from the stream's SCHEMA and the object's describe is checked once,
when the stream starts, and reported together as one config error. Each record is then converted
by a precomputed function per column; a value that cannot fit rejects that record only, with a
message naming the stream, the record's key and the field.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from target_salesforce_out.describe import FieldInfo, ObjectInfo
from target_salesforce_out.errors import ConfigError, ErrorDetail
from target_salesforce_out.ids import id_problem
from target_salesforce_out.settings import StreamSettings

LOGGER = logging.getLogger("target_salesforce_out.mapping")
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_SHOWN_VALUE_CHARS = 80
# Objects and arrays sent to a text field: compact JSON with every digit of a Decimal.
_JSON_TEXT = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
_DAY_MICROSECONDS = 86_400_000_000

Converter = Callable[[Any], Any]


class RecordRejectedError(Exception):
    """A record that cannot be sent; carries the error as it goes to the dead-letter file."""

    def __init__(self, detail: ErrorDetail) -> None:
        """Keep the detail; the message is the detail's message."""
        self.detail = detail
        super().__init__(detail.message)


class ValueProblemError(Exception):
    """A value does not fit its field (code and message in Salesforce's vocabulary)."""

    def __init__(self, code: str, message: str) -> None:
        """Keep the Salesforce-style status code with the text."""
        self.code = code
        super().__init__(message)


def shown(value: Any) -> str:
    """A value as quoted in messages, cut to a readable length."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS] + "..."


# Value conversion --------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """UTC with milliseconds and ``Z``, the form both REST and Bulk accept.

    A naive datetime is taken as UTC. The year always has four digits (``strftime("%Y")``
    writes ``999`` for the year 999 on glibc), as the ``yyyy-MM-ddTHH:mm:ss.SSSZ`` pattern
    needs (SOAP API Developer Guide, Primitive Data Types: dateTime).

    Raises:
        ValueProblemError: the moment, in UTC, falls outside the years 1 to 9999.
    """
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueProblemError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{value.isoformat()} is outside the years 1 to 9999 once converted to UTC",
            ) from None
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def format_time(value: time) -> str:
    """``HH:mm:ss.SSSZ`` in UTC: a time with an offset is moved by it, a naive one is UTC.

    Salesforce's time fields take only this form (SOAP API Developer Guide, Primitive Data
    Types: time), so ``13:30-03:00`` is sent as ``16:30:00.000Z``.
    """
    offset = value.utcoffset() or timedelta(0)
    since_midnight = (
        ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    ) - offset // timedelta(microseconds=1)
    micros = since_midnight % _DAY_MICROSECONDS
    seconds, micro = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}.{micro // 1000:03d}Z"


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueProblemError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"not a date-time: {shown(value)} (expected ISO 8601, e.g. 2024-01-31T13:45:00Z or "
        "2024-01-31T13:45:00+02:00)",
    )


def _to_datetime(field: FieldInfo) -> Converter:
    def convert(value: Any) -> str:
        return format_datetime(_parse_datetime(value))

    return convert


def format_date(value: date) -> str:
    """``yyyy-MM-dd`` with a four-digit year, as :func:`format_datetime`."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _to_date(field: FieldInfo) -> Converter:
    def convert(value: Any) -> str:
        # The date as written: a datetime's own calendar day, whatever its offset.
        if isinstance(value, datetime):
            return format_date(value.date())
        if isinstance(value, date):
            return format_date(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return format_date(date.fromisoformat(text))
            except ValueError:
                pass
            try:
                return format_date(datetime.fromisoformat(text).date())
            except ValueError:
                pass
        raise ValueProblemError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"not a date: {shown(value)} (expected YYYY-MM-DD, e.g. 2024-01-31)",
        )

    return convert


def _to_time(field: FieldInfo) -> Converter:
    def convert(value: Any) -> str:
        parsed: time | None = value if isinstance(value, time) else None
        if isinstance(value, str):
            try:
                parsed = time.fromisoformat(value.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            raise ValueProblemError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"not a time: {shown(value)} (expected HH:MM:SS, e.g. 13:45:00 or 13:45:00.250Z)",
            )
        return format_time(parsed)

    return convert


def _to_boolean(field: FieldInfo) -> Converter:
    def convert(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if value is None:
            # Checkboxes are never null in Salesforce; clearing one means unchecking it.
            return False
        number = isinstance(value, int) or (isinstance(value, Decimal) and value.is_finite())
        if number and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
        raise ValueProblemError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"not a boolean: {shown(value)}")

    return convert


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueProblemError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"not a number: {value}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueProblemError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"not a number: {value}")
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueProblemError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"not a number: {shown(value)}"
            ) from None
    else:
        raise ValueProblemError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"not a number: {shown(value)}")
    if not number.is_finite():
        raise ValueProblemError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"not a number: {value}")
    return number


def _integer_digits(number: Decimal) -> int:
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    return max(len(digits) + exponent, 0) if digits != (0,) else 0


def _to_integer(field: FieldInfo) -> Converter:
    limit = field.digits or 18

    def convert(value: Any) -> int:
        number = _decimal(value)
        if number != number.to_integral_value():
            raise ValueProblemError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"not a whole number: {shown(value)}"
            )
        if _integer_digits(number) > limit:
            raise ValueProblemError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{value} has more than the {limit} digits the field allows",
            )
        return int(number)

    return convert


def _to_decimal(field: FieldInfo) -> Converter:
    limit = field.precision - field.scale if field.precision else 0

    def convert(value: Any) -> Decimal:
        number = _decimal(value)
        if limit and _integer_digits(number) > limit:
            raise ValueProblemError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{shown(value)} has more than the {limit} digits before the decimal point "
                f"that the field allows (precision {field.precision}, scale {field.scale})",
            )
        return number

    return convert


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    # An object or array as the JSON the tap sent (numbers stay numbers).
    return _JSON_TEXT.encode(value).decode()


def _to_text(field: FieldInfo) -> Converter:
    restricted = field.restricted_picklist and field.picklist_values
    allowed = field.picklist_values

    def convert(value: Any) -> str:
        text = _text(value)
        if field.length and len(text) > field.length:
            raise ValueProblemError(
                "STRING_TOO_LONG",
                f"data value too large: {shown(text)} (max length={field.length}, got {len(text)})",
            )
        if restricted and text and text not in allowed:  # "" is stored as null
            raise ValueProblemError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"bad value for restricted picklist field: {shown(text)}",
            )
        return text

    return convert


def _to_multipicklist(field: FieldInfo) -> Converter:
    restricted = field.restricted_picklist and field.picklist_values

    def convert(value: Any) -> str:
        items = [_text(v) for v in value] if isinstance(value, list | tuple) else None
        text = ";".join(items) if items is not None else _text(value)
        if restricted:
            bad = [v for v in text.split(";") if v and v not in field.picklist_values]
            if bad:
                raise ValueProblemError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"bad value for restricted picklist field: {shown(bad[0])}",
                )
        return text

    return convert


def _to_id(field: FieldInfo) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, list | tuple | dict):
            kind = "an array" if not isinstance(value, dict) else "an object"
            raise ValueProblemError(
                "MALFORMED_ID", f"expects one Salesforce id, got {kind}: {shown(value)}"
            )
        if not isinstance(value, str):
            raise ValueProblemError("MALFORMED_ID", f"id value of incorrect type: {shown(value)}")
        problem = id_problem(value.strip())
        if problem:
            raise ValueProblemError(
                "MALFORMED_ID", f"id value of incorrect type: {shown(value)} ({problem})"
            )
        return value.strip()

    return convert


_BY_TYPE: dict[str, Callable[[FieldInfo], Converter]] = {
    "boolean": _to_boolean,
    "int": _to_integer,
    "long": _to_integer,
    "double": _to_decimal,
    "currency": _to_decimal,
    "percent": _to_decimal,
    "date": _to_date,
    "datetime": _to_datetime,
    "time": _to_time,
    "multipicklist": _to_multipicklist,
    "reference": _to_id,
    "id": _to_id,
}


def converter_for(field: FieldInfo) -> Converter:
    """The function that turns a Singer value into what ``field`` needs on the wire.

    Whatever goes wrong converting one value rejects that record only: an exception other
    than :class:`ValueProblemError` (an overflow, an odd type) becomes one, naming the value.
    """
    convert = _BY_TYPE.get(field.type, _to_text)(field)

    def guarded(value: Any) -> Any:
        try:
            return convert(value)
        except ValueProblemError:
            raise
        except Exception as exc:
            raise ValueProblemError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"cannot convert {_shown_safely(value)} for a {field.type} field "
                f"({type(exc).__name__}: {exc})",
            ) from exc

    return guarded


def _shown_safely(value: Any) -> str:
    # The message of a failure must not fail in turn (a value whose str() raises, say).
    try:
        return shown(value)
    except Exception:
        try:
            return shown(repr(value))
        except Exception:
            return f"a {type(value).__name__} value"


# Resolution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """Where one stream property goes."""

    prop: str
    field: FieldInfo  # the object's own field (the reference field for a relationship path)
    name: str  # wire name: ``Email``, or ``Account.External_Id__c`` for a relationship path
    parent_field: FieldInfo | None
    convert: Converter
    # Taps that read text files (CSV, spreadsheets) send "" for an empty cell; in a date,
    # number, boolean or id field that can only mean "no value".
    blank_is_null: bool = False

    @property
    def relationship(self) -> str | None:
        """``Account`` for ``Account.External_Id__c``; None for a plain field."""
        return self.name.split(".", 1)[0] if self.parent_field else None


def snake_to_field(prop: str, obj: ObjectInfo) -> FieldInfo | None:
    """``first_name`` -> ``FirstName``: a standard field whose name is the property unsnaked."""
    folded = prop.replace("_", "").lower()
    for field in obj.fields.values():
        if not field.custom and field.name.lower() == folded:
            return field
    return None


def resolve_property(prop: str, obj: ObjectInfo, mapping: Mapping[str, str]) -> str | None:
    """The field (or relationship path) a property maps to, in the documented order."""
    if prop in mapping:
        return mapping[prop]
    for candidate in (prop, prop + "__c"):
        field = obj.field(candidate)
        if field is not None:
            return field.name
    field = snake_to_field(prop, obj)
    return field.name if field is not None else None


def closest_fields(prop: str, obj: ObjectInfo) -> list[str]:
    """Up to three field names that look like ``prop`` (for 'did you mean' messages)."""
    names = {f.name.lower(): f.name for f in obj.fields.values()}
    folded = prop.replace("_", "").lower()
    matches = difflib.get_close_matches(folded, names.keys(), n=3, cutoff=0.5)
    matches += difflib.get_close_matches(prop.lower() + "__c", names.keys(), n=1, cutoff=0.8)
    return list(dict.fromkeys(names[m] for m in matches))[:3]


class RecordMapper:
    """Resolves a stream's properties once, then converts each record."""

    def __init__(
        self,
        stream: str,
        settings: StreamSettings,
        obj: ObjectInfo,
        properties: Iterable[str],
        parent_object: Callable[[str], ObjectInfo],
        key_properties: Iterable[str] = (),
    ) -> None:
        """Resolve and check everything; raise one :class:`ConfigError` listing every problem.

        Args:
            stream: Stream name, for messages.
            settings: The stream's loading settings.
            obj: Describe of the target object.
            properties: Property names of the stream's schema.
            parent_object: Describes a parent object (for relationship paths).
            key_properties: The stream's key properties, used to name records in messages.
        """
        self.stream = stream
        self.settings = settings
        self.obj = obj
        self.operation = settings.operation
        self.columns: list[Column] = []
        problems: list[str] = []
        self._resolve(properties, parent_object, problems)
        self.key_column = self._find_key(problems)
        self.match_columns = self._find_match_columns(problems)
        # Values set on every record (a record type resolved from its name).
        self.constants: dict[str, Any] = {}
        self._key_properties = [p for p in key_properties if p in {c.prop for c in self.columns}]
        self._check_writable(problems)
        self._check_required(problems)
        # Most taps call their own primary key `id`, which resolves to Salesforce's record Id
        # by name: an insert cannot send it, an upsert without a key cannot use it.
        by_name = [
            c.prop
            for c in self.columns
            if c.field.name == "Id"
            and c.prop.lower() == "id"
            and c.prop not in settings.field_mapping
        ]
        no_key = not (settings.external_id_field or settings.match_fields)
        keyless = self.operation == "insert" or (self.operation == "upsert" and no_key)
        if problems and by_name and keyless:
            problems.insert(
                0,
                f"property {by_name[0]!r} was matched to the record Id by its name; if it is the "
                "source system's id, map it to an external id field: field_mapping "
                f'{{"{by_name[0]}": "External_Id__c"}}'
                + (" and external_id_field External_Id__c" if self.operation == "upsert" else ""),
            )
        if problems:
            raise ConfigError(f"stream {stream!r} -> {obj.name}: " + "; ".join(problems))

    # -- setup -------------------------------------------------------------------------

    def _resolve(
        self,
        properties: Iterable[str],
        parent_object: Callable[[str], ObjectInfo],
        problems: list[str],
    ) -> None:
        mapping = self.settings.field_mapping
        # A mapping may name a property that only a later SCHEMA of the stream brings; its
        # target must still be a real field.
        present = set(properties)
        for prop in (p for p in mapping if p not in present):
            LOGGER.info("stream %r: field_mapping names %r, not in this SCHEMA", self.stream, prop)
            self._column(prop, mapping[prop], parent_object, problems)
        unmapped: list[str] = []
        seen: dict[str, str] = {}
        for prop in properties:
            if prop.startswith("_sdc_") and prop not in mapping:
                continue
            target = resolve_property(prop, self.obj, mapping)
            if target is None:
                unmapped.append(prop)
                continue
            column = self._column(prop, target, parent_object, problems)
            if column is None:
                continue
            if column.name.lower() in seen:
                problems.append(
                    f"properties {seen[column.name.lower()]!r} and {prop!r} both map to "
                    f"{column.name}"
                )
                continue
            seen[column.name.lower()] = prop
            self.columns.append(column)
        self._report_unmapped(unmapped, problems)

    def _report_unmapped(self, unmapped: list[str], problems: list[str]) -> None:
        if not unmapped or self.settings.unmapped_properties == "ignore":
            return
        if self.operation in {"delete", "hard_delete"}:
            return
        described = []
        for prop in unmapped:
            close = closest_fields(prop, self.obj)
            hint = f" (closest fields: {', '.join(close)})" if close else ""
            described.append(f"{prop!r}{hint}")
        text = (
            f"properties with no field on {self.obj.name}: {'; '.join(described)}. Map them in "
            "field_mapping, or set unmapped_properties to ignore or warn"
        )
        if self.settings.unmapped_properties == "warn":
            LOGGER.warning("stream %r: %s; they are not sent", self.stream, text)
        else:
            problems.append(text)

    def _column(
        self,
        prop: str,
        target: str,
        parent_object: Callable[[str], ObjectInfo],
        problems: list[str],
    ) -> Column | None:
        if "." not in target:
            field = self.obj.field(target)
            if field is None:
                close = closest_fields(target, self.obj)
                hint = f" (closest: {', '.join(close)})" if close else ""
                problems.append(
                    f"property {prop!r} maps to {target!r}, which {self.obj.name} lacks{hint}"
                )
                return None
            return Column(prop, field, field.name, None, converter_for(field), not field.is_text)
        relationship, parent_name = target.split(".", 1)
        field = self.obj.relationships.get(relationship.lower())
        if field is None or not field.reference_to:
            problems.append(
                f"property {prop!r} maps to {target!r}, but {relationship!r} is not a "
                f"relationship of {self.obj.name}"
            )
            return None
        if len(field.reference_to) > 1:
            problems.append(
                f"property {prop!r} maps to {target!r}: {field.name} is polymorphic "
                f"({', '.join(field.reference_to)}); map the property to {field.name} with ids"
            )
            return None
        parent = parent_object(field.reference_to[0])
        parent_field = parent.field(parent_name)
        if parent_field is None or not (parent_field.external_id or parent_field.id_lookup):
            problems.append(
                f"property {prop!r} maps to {target!r}, but {parent.name}.{parent_name} is not "
                "an external id field"
            )
            return None
        name = f"{field.relationship_name}.{parent_field.name}"
        return Column(
            prop, field, name, parent_field, converter_for(parent_field), not parent_field.is_text
        )

    def _find_key(self, problems: list[str]) -> Column | None:
        key = self.settings.external_id_field
        if key is None:
            if self.operation == "upsert" and not self.settings.match_fields:
                problems.append(
                    "operation upsert needs external_id_field (an external id field, or Id) "
                    "or match_fields"
                )
            elif self.operation != "insert" and not self.settings.match_fields:
                key = "Id"
            if key is None:
                return None
        field = self.obj.field(key)
        if field is None:
            problems.append(f"external_id_field {key!r} is not a field of {self.obj.name}")
            return None
        if field.name != "Id" and not (field.external_id or field.id_lookup):
            problems.append(
                f"external_id_field {field.name} is not an external id field of {self.obj.name} "
                "(mark it External ID in Setup, or use Id)"
            )
            return None
        for column in self.columns:
            if column.parent_field is None and column.field.name == field.name:
                return column
        if not (self.operation == "upsert" and field.name == "Id"):
            problems.append(f"no property maps to the key field {field.name}")
        return None

    def _find_match_columns(self, problems: list[str]) -> list[Column]:
        columns = []
        for name in self.settings.match_fields:
            field = self.obj.field(name)
            column = next(
                (c for c in self.columns if c.parent_field is None and field and c.field == field),
                None,
            )
            if field is None:
                problems.append(f"match field {name!r} is not a field of {self.obj.name}")
            elif column is None:
                problems.append(f"no property maps to the match field {field.name}")
            elif field.type in {"textarea", "multipicklist", "base64"} and field.length > 255:
                problems.append(f"match field {field.name} is a long text field SOQL cannot filter")
            else:
                columns.append(column)
        return columns

    def _check_writable(self, problems: list[str]) -> None:
        op = self.operation
        if op in {"delete", "hard_delete"}:
            return
        for column in self.columns:
            field = column.field
            if field.name == "Id" and op != "insert":
                continue
            if op == "insert" and not field.createable:
                problems.append(f"{field.name} is not createable (property {column.prop!r})")
            elif op == "update" and not field.updateable:
                problems.append(f"{field.name} is not updateable (property {column.prop!r})")
            elif op == "upsert" and not field.createable:
                problems.append(
                    f"{field.name} is not createable, so upsert cannot insert it "
                    f"(property {column.prop!r})"
                )
            elif op == "upsert" and not field.updateable and column is not self.key_column:
                LOGGER.warning(
                    "stream %r: %s is createable but not updateable; updates that change it "
                    "will be rejected by Salesforce",
                    self.stream,
                    field.name,
                )
        if op == "insert" and any(c.field.name == "Id" for c in self.columns):
            problems.append("Id cannot be sent on insert; use upsert or update")

    def _check_required(self, problems: list[str]) -> None:
        if self.operation not in {"insert", "upsert"}:
            return
        mapped = {c.field.name for c in self.columns}
        required = {
            f.name
            for f in self.obj.fields.values()
            if f.createable and not f.nillable and not f.defaulted_on_create and f.type != "boolean"
        }
        if self.obj.name == "Account" and self.obj.has_person_accounts:
            # Describe cannot say it: Name is required for business accounts only.
            required.discard("Name")
            required.add("LastName" if self.settings.person_account else "Name")
        if self.settings.person_account:
            if self.obj.name != "Account":
                problems.append("person_account only applies to Account streams")
            elif not self.obj.has_person_accounts:
                problems.append("person_account is true but Person Accounts are not enabled")
            if "Name" in mapped:
                problems.append(
                    "person accounts cannot set Name (Salesforce derives it from FirstName and "
                    "LastName); map the name to LastName/FirstName instead"
                )
            required.add("LastName")
        missing = sorted(required - mapped)
        if missing:
            problems.append(f"required fields with no property: {', '.join(missing)}")

    # -- per record ----------------------------------------------------------------------

    def describe_key(self, record: Mapping[str, Any]) -> str:
        """How a record is named in messages: its key field value, else its key properties."""
        if self.key_column is not None and self.key_column.prop in record:
            return f"{self.key_column.field.name}={shown(record[self.key_column.prop])!r}"
        keys = [f"{p}={shown(record.get(p))!r}" for p in self._key_properties]
        return ", ".join(keys) if keys else "(no key)"

    def key_values(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record's key as data: its key field's value, else its key properties' values."""
        if self.key_column is not None and self.key_column.prop in record:
            return {self.key_column.name: record[self.key_column.prop]}
        return {p: record.get(p) for p in self._key_properties}

    def reject(
        self, record: Mapping[str, Any], code: str, text: str, fields: Iterable[str] = ()
    ) -> RecordRejectedError:
        """Build the rejection for ``record``, with stream and key in the message."""
        message = f"stream {self.stream!r}, record {self.describe_key(record)}: {text}"
        return RecordRejectedError(ErrorDetail(code, message, tuple(fields)))

    def convert(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Map and convert one record; absent properties stay absent, null clears.

        Raises:
            RecordRejectedError: a value cannot fit its field.
        """
        out: dict[str, Any] = {}
        for column in self.columns:
            if column.prop not in record:
                continue
            value = record[column.prop]
            if column.blank_is_null and value == "":
                value = None if column.field.type != "boolean" else False
            if value is None and column.field.type != "boolean":
                # A null relationship path clears the lookup field itself.
                out[column.field.name if column.parent_field else column.name] = None
                continue
            try:
                out[column.name] = column.convert(value)
            except ValueProblemError as problem:
                raise self.reject(
                    record,
                    problem.code,
                    f"property {column.prop!r} -> {column.name}: {problem}",
                    (column.field.name,),
                ) from None
        if self.constants:
            out.update(self.constants)
        if self.settings.person_account and "LastName" in out and not out["LastName"]:
            raise self.reject(
                record, "REQUIRED_FIELD_MISSING", "person accounts need LastName", ("LastName",)
            )
        return out
