"""The CSV of Bulk API 2.0 ingest: reading upload data into records, writing result rows.

Bulk API 2.0 Developer Guide, "Prepare CSV Files", "Valid CSV Record Rows", "Relationship Fields
in a Header Row" (upload data) and "Get Job Successful Record Results" / "Get Job Failed Record
Results" (result files).
"""

from __future__ import annotations

import csv
import decimal
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import ids
from .definitions import FieldDef, ObjectDef, Schema
from .errors import RecordError, RecordErrorException
from .values import parse_text_value

DELIMITERS = {
    "COMMA": ",",
    "BACKQUOTE": "`",
    "CARET": "^",
    "PIPE": "|",
    "SEMICOLON": ";",
    "TAB": "\t",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}


class JobFailedError(Exception):
    """A job-level failure: the job ends ``Failed`` with this ``errorMessage``."""


@dataclass
class Column:
    """How one uploaded CSV column becomes part of a record."""

    key: str  # record key: field API name, or relationship name for lookups
    field: FieldDef  # the field whose type converts the text
    nested: str | None = None  # external-id field name inside the relationship dict
    type_name: str | None = None  # polymorphic `Type:Rel.Field` target type
    null_key: str | None = None  # key cleared by `#N/A` in a relationship column


def format_sf_error(errors: list[RecordError]) -> str:
    """Render record errors as an ``sf__Error`` cell: ``CODE:message:fields --``.

    Bulk API 2.0 Developer Guide, "Get Job Failed Record Results".

    Args:
        errors: The record's errors (at least one).

    Returns:
        The cell text. Several errors are joined with a space (how Salesforce joins them is not
        documented by Salesforce; the emulator's choice).
    """
    parts = []
    for err in errors:
        fields = ",".join(err.fields)
        parts.append(
            f"{err.status_code}:{err.message}:{fields} --"
            if fields
            else f"{err.status_code}:{err.message}:--"
        )
    return " ".join(parts)


def quote(cell: str) -> str:
    """A cell in double quotes, inner quotes doubled."""
    return '"' + cell.replace('"', '""') + '"'


def header_cell(name: str, delimiter: str) -> str:
    """Echo a header name as uploaded, quoting it only when it needs quotes."""
    if delimiter in name or '"' in name or "\n" in name or "\r" in name:
        return quote(name)
    return name


def decode(data: bytes) -> str:
    """Upload bytes as text (UTF-8)."""
    text = data.decode("utf-8", errors="replace")
    # A UTF-8 BOM would otherwise become part of the first header name (what Salesforce does
    # with a BOM is not documented by Salesforce; the emulator's choice).
    return text[1:] if text.startswith("\ufeff") else text


def check_line_ending(text: str, line_ending: str) -> None:
    """Fail the job when the header row ends with the other line ending ("Create a Job")."""
    end = text.find("\n")
    if end < 0:
        return
    crlf = end > 0 and text[end - 1] == "\r"
    if crlf != (line_ending == "CRLF"):
        raise JobFailedError(
            "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting "
            f"is {line_ending}"
        )


def reader(text: str, column_delimiter: str) -> Iterator[list[str]]:
    """Rows of upload text: RFC 4180 quoting, no trimming, newlines kept inside quotes."""
    return csv.reader(
        io.StringIO(text, newline=""),
        delimiter=DELIMITERS[column_delimiter],
        quotechar='"',
        doublequote=True,
        skipinitialspace=False,
        strict=False,
    )


def rows_after(data: bytes, column_delimiter: str, skip: int) -> Iterator[list[str]]:
    """Header then the data rows after the first ``skip`` ones (for unprocessed records)."""
    rows = reader(decode(data), column_delimiter)
    header = next(rows, None)
    if header is None:
        return
    yield header
    seen = 0
    for row in rows:
        if not row:
            continue
        if seen >= skip:
            yield row
        seen += 1


def map_columns(
    schema: Schema, obj: ObjectDef, operation: str, header: list[str]
) -> list[Column | None]:
    """Map header names to record keys; an unknown name fails the job.

    Bulk API 2.0 Developer Guide, "Relationship Fields in a Header Row" (``Rel.Field`` and
    polymorphic ``Type:Rel.Field`` columns).
    """
    columns: list[Column | None] = []
    deleting = operation in ("delete", "hardDelete")
    for name in header:
        type_name: str | None = None
        path = name
        if ":" in name and "." in name:
            type_name, path = name.split(":", 1)
        if "." in path:
            rel, ext = path.split(".", 1)
            ref = obj.by_relationship(rel)
            parent_name = type_name or (ref.reference_to[0] if ref and ref.reference_to else "")
            parent = schema.get(parent_name) if parent_name else None
            if ref and type_name and parent and parent.name not in ref.reference_to:
                parent = None
            ext_field = parent.field(ext) if parent is not None else None
            if ref is None or parent is None or ext_field is None:
                raise JobFailedError(f"InvalidBatch : Field name not found : {name}")
            # "You get an error if you omit this syntax for a polymorphic field. You also get an
            # error if you include this syntax for a field that is not polymorphic."
            if type_name and len(ref.reference_to) < 2:
                raise JobFailedError(
                    "InvalidBatch : type is not needed for non polymorphic foreign key "
                    f"references: {ref.relationship_name}"
                )
            if not type_name and len(ref.reference_to) > 1:
                # Text not documented by Salesforce; the emulator's choice.
                raise JobFailedError(
                    "InvalidBatch : type is needed for polymorphic foreign key references: "
                    f"{ref.relationship_name}"
                )
            columns.append(
                None
                if deleting
                else Column(
                    key=ref.relationship_name or rel,
                    field=ext_field,
                    nested=ext_field.name,
                    type_name=parent.name if type_name else None,
                    null_key=ref.name,
                )
            )
            continue
        target = obj.field(path)
        if target is None or type_name is not None:
            raise JobFailedError(f"InvalidBatch : Field name not found : {name}")
        if deleting and target.name != "Id":
            columns.append(None)  # delete files carry only Id; other columns are ignored
            continue
        columns.append(Column(key=target.name, field=target))
    return columns


def to_record(columns: list[Column | None], row: list[str]) -> dict[str, Any]:
    """Build the save payload of one row: empty = absent, ``#N/A`` = null ("Prepare CSV Files")."""
    record: dict[str, Any] = {}
    for column, cell in zip(columns, row, strict=False):
        if column is None or cell == "":
            continue
        if column.nested is None:
            record[column.key] = None if cell == "#N/A" else parse_text_value(column.field, cell)
            continue
        if cell == "#N/A":
            record[column.null_key or column.key] = None
            continue
        nested: dict[str, Any] = {}
        if column.type_name:
            nested["attributes"] = {"type": column.type_name}
        nested[column.nested] = parse_text_value(column.field, cell)
        record[column.key] = nested
    return record


def _java_double(value: float) -> str:
    """``Double.toString``: plain from 10^-3 up to 10^7, else ``d.dddE±n``; always a ``.``."""
    if value == 0:
        return "0.0"
    text = repr(float(value))
    if 1e-3 <= abs(value) < 1e7:
        return text  # Python's shortest repr is plain, with a ".", in this range too
    # The shortest repr's digits as d.ddd and its exponent n.
    shortest = decimal.Decimal(text)
    digits = "".join(map(str, shortest.as_tuple().digits)).rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{shortest.adjusted()}"


def echo_cell(column: Column | None, cell: str) -> str:
    """A typed cell as parsed and rendered again (``echo_as_parsed``); text as uploaded.

    Salesforce says result files echo values as it parsed them (Bulk API 2.0 Developer Guide,
    "Get Job Successful Record Results"); the exact rendering is not documented by Salesforce
    and is the emulator's choice, after client libraries' tests against real orgs: numbers come
    back as Java doubles (``100`` -> ``100.0``, ``912260031`` -> ``9.12260031E8``), booleans
    upper-case, datetimes in UTC with ``+0000``, ids with 18 characters and ``#N/A`` empty.
    Cells that do not parse are echoed as uploaded.
    """
    if column is None or cell == "":
        return cell
    if cell == "#N/A":
        return ""
    ftype = column.field.type
    try:
        value = parse_text_value(column.field, cell)
    except RecordErrorException:
        return cell
    if ftype in ("int", "long", "double", "currency", "percent"):
        return _java_double(float(value))
    if ftype == "boolean":
        return "TRUE" if value else "FALSE"
    if ftype == "datetime":
        return str(value).replace("Z", "+0000")
    if ftype in ("id", "reference"):
        return ids.normalize(cell) or cell
    return cell


def row_id(columns: list[Column | None], cells: list[str]) -> str:
    """The row's own Id cell (for failed update/delete rows), or empty."""
    for column, cell in zip(columns, cells, strict=False):
        if column is not None and column.nested is None and column.key == "Id":
            return ids.normalize(cell) or cell
    return ""
