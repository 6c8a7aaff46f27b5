"""JSON request bodies for sObject Collections, written by hand so numbers keep every digit.

``json.dumps`` can only write a ``Decimal`` as a string or through ``float``; currency values
with 18 digits would lose precision through ``float``, and Salesforce wants JSON numbers, not
strings. Records here are flat (plus one level for relationship lookups), so a small encoder
is both exact and fast.

Values arrive already converted for their field (text, ``bool``, ``int``, ``Decimal``; dates
and datetimes as Salesforce's text forms), so anything else is a defect upstream: it raises
instead of being sent as Python's text for it, which Salesforce would not read as the field's
type. The body shape (``allOrNone``, ``records``, ``attributes.type`` on each record, a lookup
as an object keyed by the parent's external id field) is the REST API Developer Guide's, in
"sObject Collections Create/Update/Upsert" and "Insert or Update (Upsert) a Record Using an
External ID".
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def encode_value(value: Any) -> str:
    """One JSON value; ``Decimal`` as a plain number without exponent.

    Raises:
        ValueError: a ``Decimal`` that is not finite (JSON has no NaN or infinity).
        TypeError: a value of a type no field converter produces.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON form")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return (
            "{" + ",".join(f"{_encode_string(k)}:{encode_value(v)}" for k, v in value.items()) + "}"
        )
    raise TypeError(f"no JSON form for a {type(value).__name__} value; convert it for its field")


def encode_record(sobject: str, fields: dict[str, Any]) -> str:
    """A Collections record: ``attributes.type`` then the fields; ``Rel.Field`` keys nest.

    A polymorphic ``Type:Rel.Field`` key nests with the parent's ``attributes.type``, the form
    the Bulk API Developer Guide documents for JSON records ("Valid XML and JSON Records").
    """
    parts = [f'"attributes":{{"type":{_encode_string(sobject)}}}']
    for name, value in fields.items():
        if "." in name:
            path, parent_field = name.split(".", 1)
            parent_type, _, relationship = path.rpartition(":")
            typed = f'"attributes":{{"type":{_encode_string(parent_type)}}},' if parent_type else ""
            nested = f"{{{typed}{_encode_string(parent_field)}:{encode_value(value)}}}"
            parts.append(f"{_encode_string(relationship)}:{nested}")
        else:
            parts.append(f"{_encode_string(name)}:{encode_value(value)}")
    return "{" + ",".join(parts) + "}"


def encode_collection(
    sobject: str, records: list[dict[str, Any]], *, all_or_none: bool = False
) -> bytes:
    """The body of a Collections create/update/upsert call."""
    flag = "true" if all_or_none else "false"
    body = ",".join(encode_record(sobject, r) for r in records)
    return f'{{"allOrNone":{flag},"records":[{body}]}}'.encode()
