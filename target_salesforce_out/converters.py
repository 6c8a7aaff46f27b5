"""Value conversion: a Singer value -> what a Salesforce field of its type takes on the wire.

One converter per describe field type, built once per column from the field's describe (its
length, digits, picklist values). To add a field type: write its converter here and add a row
to :data:`_BY_TYPE`; types without a row are sent as text. If Bulk API results echo the type's
values in another form than they were sent (numbers, dates), also give it a kind in
``sinks/bulk_csv.py`` (``KIND_BY_TYPE``), so result rows still match their input rows.

A value that does not fit raises :class:`ValueProblemError` with Salesforce's own status code
(``STRING_TOO_LONG``, ``NUMBER_OUTSIDE_VALID_RANGE``, ...), which rejects that record only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from target_salesforce_out.describe import FieldInfo
from target_salesforce_out.errors import ValueProblemError
from target_salesforce_out.ids import id_problem

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_SHOWN_VALUE_CHARS = 80
# Objects and arrays sent to a text field: compact JSON with every digit of a Decimal.
_JSON_TEXT = msgspec.json.Encoder(enc_hook=str, decimal_format="number")
_DAY_MICROSECONDS = 86_400_000_000

Converter = Callable[[Any], Any]


def shown(value: Any) -> str:
    """A value as quoted in messages, cut to a readable length."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS] + "..."


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
