"""Bulk API 2.0 CSV rows: cells as Salesforce reads them, and the key a row is matched by.

Cells follow Bulk API 2.0 Developer Guide, Prepare CSV Files (``#N/A`` for null, ``true`` and
``false``, quoted when they hold a comma, quote, CR or LF). The job's file and its index are in
:mod:`.job_file`; reading the results back is in :mod:`.bulk_results`.

Correlation. Result files are not in upload order and echo each uploaded column "as Salesforce
parsed it" (Bulk API 2.0 Developer Guide, Get Job Successful Record Results): a number may come
back as ``1.0E2``, an id in its 18-character form. A row and its result row are therefore
compared cell by cell in a canonical form chosen by the column's field type (see
:func:`canonical_cell`), the same function applied to what was uploaded and to what came back:

* a job with a key column (the external id for upsert, ``Id`` for update and delete) matches on
  that column alone: the sink starts a new job on a repeated key, so it is unique in a job;
* every other row (insert; upsert by ``Id`` without an Id) matches on all of its cells. Rows
  whose cells are all the same in canonical form are interchangeable: Salesforce received the
  same record twice, and either result may be credited to either row. Rows that differ in any
  cell (a number, a date, a lookup, a text) are never confused.

A result row that matches no uploaded row is counted and logged, never credited to another row;
the row it belonged to is then reported as having no result (``BULK_RESULT_MISSING``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any

from target_salesforce_out.errors import UnsendableValueError
from target_salesforce_out.ids import to18

NULL_CELL = "#N/A"
# Salesforce's limit on one record's characters in a Bulk upload (Bulk API and Bulk API 2.0
# Limits and Allocations).
MAX_RECORD_CHARS = 400_000

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
_NEEDS_QUOTES_BUT_COMMA = re.compile(r'["\r\n]')
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The datetime form this target uploads (converters.format_datetime): already canonical.
_UTC_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_ID15 = re.compile(r"[0-9A-Za-z]{15}")


def quote_cell(cell: str) -> str:
    """One CSV cell: quoted when it holds a comma, quote, CR or LF; quotes doubled.

    The csv module's QUOTE_MINIMAL with an LF line terminator leaves a bare carriage return
    unquoted, which CSV readers take as a row break; hence this small function.
    """
    if _NEEDS_QUOTES.search(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def to_cell(value: Any, column: str) -> str:
    """A converted value as CSV text: ``#N/A`` for null, ``true``/``false``, plain decimals.

    An empty string clears the field like over REST (an empty cell would mean "leave it").

    Raises:
        UnsendableValueError: the value is the text ``#N/A``.
    """
    if value is None or value == "":
        return NULL_CELL
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        if value == NULL_CELL:
            raise UnsendableValueError(column)
        return value
    return str(value)


# Canonical cells ---------------------------------------------------------------------------
#
# Kinds of column, by describe type (SOAP API Developer Guide, Field Types). What a kind's
# canonical form keeps is what Salesforce keeps when it parses the value: two uploads with one
# canonical form are the same value to Salesforce, and Salesforce's re-rendering of a value
# has the canonical form of what was uploaded.
KIND_BY_TYPE = {
    "int": "integer",
    "long": "integer",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "id": "id",
    "reference": "id",
}


def column_kind(type_name: str) -> str:
    """How cells of a field of describe type ``type_name`` are compared (``text`` by default)."""
    return KIND_BY_TYPE.get(type_name, "text")


def _text(cell: str) -> str:
    return cell


def _number(cell: str) -> str:
    # double, currency and percent values are parsed as doubles (xsd:double); the shortest
    # text that reads back as the same double names it, whatever notation it was written in.
    try:
        value = float(cell)
    except ValueError:
        return cell
    if not math.isfinite(value):
        return cell
    return "0" if value == 0 else repr(value)


def _integer(cell: str) -> str:
    # int and long are exact (a long may hold more digits than a double); 1.0E2 is 100.
    try:
        return str(int(cell))
    except ValueError:
        pass
    try:
        value = Decimal(cell)
    except InvalidOperation:
        return cell
    if value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    return _number(cell)


def _boolean(cell: str) -> str:
    return cell.lower()


def _date(cell: str) -> str:
    # yyyy-MM-dd, possibly echoed with a time part.
    if len(cell) <= 10:
        return cell
    head = cell[:10]
    return head if _DATE.fullmatch(head) else cell


def _datetime(cell: str) -> str:
    # The same instant in UTC, to the millisecond Salesforce stores: 2024-03-01T18:00:15.250Z,
    # ...250+0000 and 23:30:15.25+05:30 are one value.
    if _UTC_MILLIS.fullmatch(cell):
        return cell
    try:
        moment = datetime.fromisoformat(cell.strip())
    except ValueError:
        return cell
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _time(cell: str) -> str:
    try:
        moment = time.fromisoformat(cell.strip().removesuffix("Z"))
    except ValueError:
        return cell
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _id(cell: str) -> str:
    # A 15-character id and its 18-character form name one record (ids are case-sensitive;
    # the last three characters encode the case of the first 15, whatever their own case).
    if len(cell) == 18 and cell.isascii() and cell.isalnum():
        return cell[:15] + cell[15:].upper()
    return _id15(cell) if _ID15.fullmatch(cell) else cell


@lru_cache(maxsize=4096)
def _id15(cell: str) -> str:
    return to18(cell)


_CANONICAL: dict[str, Callable[[str], str]] = {
    "text": _text,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "id": _id,
}


def canonical_cell(kind: str, cell: str) -> str:
    """A cell as compared with its echo in a results file; null (``#N/A`` or empty) is ``""``.

    An empty cell (field not sent) and ``#N/A`` (field set to null) compare equal: a results
    file may echo either as the other.
    """
    if cell in ("", NULL_CELL):
        return ""
    return _CANONICAL[kind](cell)


@dataclass(frozen=True)
class RowFormat:
    """The upload header of a stream and how rows are built from and matched to it.

    Attributes:
        header: Wire names, in column order.
        aliases: Field name -> column name, for a null relationship path (the mapper names
            the lookup field, e.g. ``AccountId``, the file has ``Account.External_Id__c``).
        key: Name of the column records are matched by, or None (insert).
        kinds: Per column, how its cells are compared (:func:`column_kind`); text when not
            given. A relationship column has the kind of the parent field it names.
    """

    header: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    kinds: tuple[str, ...] = ()

    @cached_property
    def key_index(self) -> int | None:
        """Position of the key column."""
        return self.header.index(self.key) if self.key is not None else None

    def cells(self, fields: dict[str, Any]) -> list[str]:
        """One row in header order; absent fields are empty cells.

        Raises:
            UnsendableValueError: a value cannot be written (see :func:`to_cell`).
        """
        index = self._index
        out = [""] * len(self.header)
        for name, value in fields.items():
            position = index.get(name)
            if position is None:
                alias = self.aliases.get(name)
                if alias is None:
                    continue  # not a column of this file (delete files carry only Id)
                position = index[alias]
            out[position] = to_cell(value, self.header[position])
        return out

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.header)}

    @cached_property
    def _canonical(self) -> tuple[Callable[[str], str], ...]:
        kinds = self.kinds or ("text",) * len(self.header)
        return tuple(_CANONICAL[kind] for kind in kinds)

    @cached_property
    def _typed(self) -> tuple[tuple[int, Callable[[str], str]], ...]:
        """(position, canonical form) of the columns whose cells are not compared as text."""
        return tuple((i, f) for i, f in enumerate(self._canonical) if f is not _text)

    def key_value(self, cells: list[str]) -> str | None:
        """The key cell in canonical form, or None when the row has no key value.

        Text keys compare case-insensitively, as Salesforce matches external ids; numbers and
        ids as :func:`canonical_cell` does, so ``100`` and ``1.0E2``, or an id's 15- and
        18-character forms, are one key (for matching results and for cutting jobs alike).
        """
        position = self.key_index
        if position is None:
            return None
        cell = cells[position]
        if cell in ("", NULL_CELL):
            return None
        value = self._canonical[position](cell)
        return value.lower() if self._canonical[position] is _text else value

    def correlation_key(self, cells: list[str]) -> str:
        """How a row and its result row find each other (see the module docstring)."""
        value = self.key_value(cells)
        if value is not None:
            return "k:" + value
        canon = ["" if cell == NULL_CELL else cell for cell in cells]
        for position, canonical in self._typed:
            if canon[position]:
                canon[position] = canonical(canon[position])
        # Joined unambiguously: by a separator no cell holds, else (rarely) as a Python repr.
        text = "\x1f".join(canon)
        if text.count("\x1f") != len(canon) - 1:
            text = "\x1e" + repr(canon)
        return "r:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    def result_key(self, row: list[str], positions: list[int]) -> str | None:
        """The correlation key of a results row, or None when the row lacks a column."""
        try:
            return self.correlation_key([row[i] for i in positions])
        except IndexError:
            return None

    def line(self, cells: list[str]) -> str:
        """The CSV text of one row, with the LF line ending the job declares."""
        text = ",".join(cells)
        # One scan of the joined row instead of a regex per cell: only the separators are
        # commas, and no quote, CR or LF, so no cell needs quoting.
        if text.count(",") == len(cells) - 1 and not _NEEDS_QUOTES_BUT_COMMA.search(text):
            return text + "\n"
        return ",".join(quote_cell(c) for c in cells) + "\n"

    def result_positions(self, result_header: list[str], skip: int) -> list[int]:
        """Where each upload column sits in a results file (after ``skip`` ``sf__`` columns).

        Raises:
            ValueError: the results do not echo every uploaded column.
        """
        names = result_header[skip:]
        missing = [name for name in self.header if name not in names]
        if missing:
            raise ValueError(f"results lack the uploaded columns {missing}")
        return [skip + names.index(name) for name in self.header]
