"""Field value conversion: JSON (REST) and CSV text (Bulk) values to stored values.

Stored values follow the JSON wire formats (REST API Developer Guide, "Valid Date and DateTime
Formats"; SOAP API Developer Guide, "Field Types"): datetimes as
``2021-11-06T17:38:40.000+0000`` (UTC), dates ``yyyy-MM-dd``, numbers as int/float, booleans.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from .definitions import FieldDef
from .errors import RecordErrorException, record_error

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2}|(?P<nocolon>[+-]\d{4}))?"
)
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?Z?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def format_datetime(moment: dt.datetime) -> str:
    """Render a datetime the way Salesforce returns it: UTC, milliseconds, ``+0000``.

    Args:
        moment: An aware datetime.

    Returns:
        e.g. ``2021-11-06T17:38:40.000+0000``.
    """
    utc = moment.astimezone(dt.UTC)
    # Four-digit year: strftime("%Y") writes 999 for the year 999 on glibc.
    millis = f"{utc.microsecond // 1000:03d}"
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.") + millis + "+0000"


def now_text() -> str:
    """The current time as the org stamps ``CreatedDate``, ``LastModifiedDate``, ``SystemModstamp``.

    Whole seconds: every audit timestamp in Salesforce's documentation and in recorded responses
    reads ``.000`` milliseconds (REST API Developer Guide, "Get Updated Records", "Get Deleted
    Records"; SOAP API Developer Guide, "Field Types"), e.g. ``2024-01-31T13:45:00.000+0000`` in
    REST JSON. Bulk API 2.0 query results write the same instant as ``...00.000Z`` (see
    bulk_queries.py).
    """
    return format_datetime(dt.datetime.now(dt.UTC).replace(microsecond=0))


def _type_error(field: FieldDef, value: Any) -> RecordErrorException:
    # Text not documented by Salesforce (the emulator's choice):
    # "<Label>: value not of required type: <value>".
    shown = "null" if value is None else value
    return record_error(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{field.label}: value not of required type: {shown}",
        [field.name],
    )


def _parse_datetime(field: FieldDef, text: str, *, allow_no_colon: bool) -> str:
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise _type_error(field, text)
    if match.group("nocolon") and not allow_no_colon:
        # A "+0000" offset without a colon fails JSON deserialization: the documented pattern
        # is "+HH:mm" (REST API Developer Guide, "Valid Date and DateTime Formats").
        raise record_error(
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of datetime from VALUE_STRING value "
            f"{text} or request may be missing a required field",
        )
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    fraction = (match.group(7) or "0")[:6].ljust(6, "0")
    offset_text = match.group(8) or "Z"
    if offset_text == "Z":
        offset = dt.timedelta(0)
    else:
        digits = offset_text[1:].replace(":", "")
        sign = -1 if offset_text[0] == "-" else 1
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        moment = dt.datetime(
            year, month, day, hour, minute, second, int(fraction), tzinfo=dt.timezone(offset)
        )
    except ValueError:
        raise _type_error(field, text) from None
    return format_datetime(moment)


def _parse_date(field: FieldDef, text: str) -> str:
    match = _DATE.fullmatch(text.strip())
    if match is None:
        raise _type_error(field, text)
    try:
        return dt.date(*(int(g) for g in match.groups())).isoformat()
    except ValueError:
        raise _type_error(field, text) from None


def _parse_time(field: FieldDef, text: str) -> str:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise _type_error(field, text)
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise _type_error(field, text)
    millis = (match.group(4) or "0")[:3].ljust(3, "0")
    return f"{hour:02d}:{minute:02d}:{second:02d}.{millis}Z"


def _check_number(field: FieldDef, number: float | int, shown: Any) -> float | int:
    if isinstance(number, float) and not math.isfinite(number):
        raise _type_error(field, shown)
    if field.type in {"int", "long"}:
        if isinstance(number, float):
            if not number.is_integer():
                raise _type_error(field, shown)
            number = int(number)
        limit = 10 ** (field.digits or 18)
    else:
        number = round(float(number), field.scale)
        limit = 10 ** max(field.precision - field.scale, 0)
    if abs(number) >= limit:
        # Text not documented by Salesforce; the emulator's choice.
        raise record_error(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{field.label}: value outside of valid range on numeric field: {shown}",
            [field.name],
        )
    return number


def _check_string(field: FieldDef, text: str) -> str | None:
    if text == "":
        # Salesforce keeps no empty strings (widely observed; not documented by Salesforce).
        return None
    if len(text) > field.length:
        raise record_error(
            "STRING_TOO_LONG",
            f"{field.label}: data value too large: {text} (max length={field.length})",
            [field.name],
        )
    if field.type == "multipicklist":
        parts = [p for p in text.split(";") if p != ""]
        text = ";".join(parts)
        bad = [p for p in parts if p not in field.picklist_set]
        if field.restricted_picklist and bad:
            raise _bad_picklist(field, bad[0])
    elif field.type == "picklist" and field.restricted_picklist and text not in field.picklist_set:
        raise _bad_picklist(field, text)
    elif field.type == "email" and not _EMAIL.fullmatch(text):
        raise record_error(
            "INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {text}", [field.name]
        )
    return text


def _bad_picklist(field: FieldDef, value: str) -> RecordErrorException:
    return record_error(
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        f"{field.label}: bad value for restricted picklist field: {value}",
        [field.name],
    )


def parse_json_value(field: FieldDef, value: Any) -> Any:
    """Convert a JSON-typed value for ``field`` into its stored form, validating it like an org.

    References are returned as given (the store checks them against existing records).

    Args:
        field: The target field.
        value: str/int/float/bool/None from a JSON body.

    Returns:
        The value to store (None clears the field).

    Raises:
        RecordErrorException: With the code Salesforce would return for this value.
    """
    ftype = field.type
    if value is None:
        if ftype == "boolean":
            # Booleans are never null; the error is not documented by Salesforce (the
            # emulator's choice).
            raise _type_error(field, None)
        return None
    if isinstance(value, dict | list):
        raise _type_error(field, value)
    if field.is_string:
        if isinstance(value, bool):
            value = "true" if value else "false"
        return _check_string(field, value if isinstance(value, str) else str(value))
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _type_error(field, value)
    if ftype in {"int", "long", "double", "currency", "percent"}:
        if isinstance(value, bool):
            raise _type_error(field, value)
        if isinstance(value, str):
            if not _NUMBER.fullmatch(value.strip()):
                raise _type_error(field, value)
            number: float | int = float(value)
        else:
            number = value
        return _check_number(field, number, value)
    if not isinstance(value, str):
        raise _type_error(field, value)
    if ftype == "datetime":
        return _parse_datetime(field, value, allow_no_colon=False)
    if ftype == "date":
        return _parse_date(field, value)
    if ftype == "time":
        return _parse_time(field, value)
    return value


def parse_text_value(field: FieldDef, text: str) -> Any:
    """Convert a CSV cell (Bulk API 2.0) into the JSON-typed value ``Org.save`` accepts.

    The caller handles ``#N/A`` (null) and empty cells (leave unchanged) before calling this.

    Args:
        field: The target field.
        text: The cell text.

    Returns:
        A str/int/float/bool value; datetimes come back normalised to UTC with ``Z``.

    Raises:
        RecordErrorException: INVALID_TYPE_ON_FIELD_IN_RECORD for a bad number, date, datetime or
            boolean, with the same message as REST validation.
    """
    ftype = field.type
    if ftype == "boolean":
        lowered = text.strip().lower()
        if lowered not in {"true", "false"}:
            raise _type_error(field, text)
        return lowered == "true"
    if ftype in {"int", "long", "double", "currency", "percent"}:
        if not _NUMBER.fullmatch(text.strip()):
            raise _type_error(field, text)
        number = float(text)
        if ftype in {"int", "long"} and number.is_integer():
            return int(number)
        return number
    if ftype == "date":
        return _parse_date(field, text)
    if ftype == "datetime":
        # Bulk (v1 docs) also show +HHMM offsets without colon; accept them here.
        return _parse_datetime(field, text, allow_no_colon=True).replace("+0000", "Z")
    if ftype == "time":
        return _parse_time(field, text)
    return text
