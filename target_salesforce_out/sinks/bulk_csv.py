"""Bulk API 2.0 CSV: upload rows, the on-disk row index, result parsing.

Rows are written as they arrive to a job's CSV file and indexed in a SQLite file next to it:
correlation key -> (original Singer record, CSV line). Memory therefore stays flat however many
records a job holds, and every result row can be traced back to the record that produced it.

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

import csv
import hashlib
import math
import re
import sqlite3
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.ids import to18

NULL_CELL = "#N/A"
# Rows written to the index, and result keys looked up, per SQLite statement.
INDEX_BLOCK_ROWS = 500
# Salesforce's limit on one record's characters in a Bulk upload (Bulk API and Bulk API 2.0
# Limits and Allocations).
MAX_RECORD_CHARS = 400_000
# Result cells may be as long as a field allows (131,072 characters); the csv default is that.
csv.field_size_limit(max(csv.field_size_limit(), 4 * 1024 * 1024))

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
_NEEDS_QUOTES_BUT_COMMA = re.compile(r'["\r\n]')
# Several errors in one sf__Error cell: "A:msg:F -- B:msg:--" (joining rule undocumented).
_NEXT_ERROR = re.compile(r" --\s+(?=[A-Z][A-Z0-9_]*:)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# The datetime form this target uploads (mapping.format_datetime): already canonical.
_UTC_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_ID15 = re.compile(r"[0-9A-Za-z]{15}")


class UnsendableValueError(Exception):
    """A value that Bulk CSV cannot carry (the string ``#N/A`` reads as null)."""

    def __init__(self, column: str) -> None:
        """Name the column whose value cannot be sent."""
        self.column = column
        super().__init__(column)


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


def parse_sf_error(text: str) -> ErrorDetail:
    """Split an ``sf__Error`` cell into code, message and fields (Get Job Failed Record Results).

    ``CODE:message:Field1,Field2 --``: the code is the text before the first ``:``, the fields
    follow the last ``:``, the message (which may contain ``:``) is in between. Only the first
    of several joined errors is kept.
    """
    first = _NEXT_ERROR.split(text.strip(), maxsplit=1)[0]
    body = first.removesuffix("--").rstrip()
    code, sep, rest = body.partition(":")
    if not sep:
        return ErrorDetail(code.strip() or "UNKNOWN", text.strip())
    message, sep, fields = rest.rpartition(":")
    if not sep:
        message, fields = rest, ""
    names = tuple(f.strip() for f in fields.split(",") if f.strip())
    return ErrorDetail(code.strip(), message.strip(), names)


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


class JobFile:
    """One job's CSV file and its row index (a SQLite file), written then read once.

    The sink's thread writes it; after :meth:`finish` exactly one worker thread reads it.
    """

    def __init__(self, directory: Path, seq: int, header: tuple[str, ...]) -> None:
        """Create the files and write the header row."""
        self.seq = seq
        self.csv_path = directory / f"job-{seq}.csv"
        self.db_path = directory / f"job-{seq}.db"
        self.barrier = False  # holds a key an earlier, unfinished job also holds
        # The job was (or may have been) closed: Salesforce may process its rows from then on.
        self.closed = False
        # Rows to send again (row locks), while they are not yet handed to a new job.
        self.retry: JobFile | None = None
        self._csv = self.csv_path.open("wb")
        head = (",".join(quote_cell(h) for h in header) + "\n").encode()
        self._csv.write(head)
        self.bytes = len(head)
        self.rows = 0
        self._unindexed: list[tuple[int, str, bytes, bytes]] = []
        self._db = sqlite3.connect(self.db_path, check_same_thread=False)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE rows (row INTEGER PRIMARY KEY, key TEXT NOT NULL,"
            " record BLOB NOT NULL, line BLOB NOT NULL, done INTEGER NOT NULL DEFAULT 0);"
        )

    def add(self, key: str, record_json: bytes, line: bytes) -> None:
        """Append one row (its CSV line, encoded) to the file and, in blocks, to the index."""
        self._csv.write(line)
        self.bytes += len(line)
        self.rows += 1
        self._unindexed.append((self.rows, key, record_json, line))
        if len(self._unindexed) >= INDEX_BLOCK_ROWS:
            self._index_rows()

    def _index_rows(self) -> None:
        # One executemany per block: a statement per row cost more than writing the row.
        self._db.executemany(
            "INSERT INTO rows (row, key, record, line) VALUES (?, ?, ?, ?)", self._unindexed
        )
        self._unindexed.clear()

    def finish(self) -> None:
        """Close the CSV and index the keys; the file is ready to upload."""
        if not self._csv.closed:
            self._csv.close()
            self._index_rows()
            self._db.execute("CREATE INDEX rows_key ON rows (key, done)")
            self._db.commit()

    def mark_many(self, keys: list[str]) -> list[bytes | None]:
        """For each key in turn, mark the first unmatched row with it; return its record.

        None where no unmatched row has the key. One query per block of keys; per key, rows
        are taken in row order (rows identical in every cell share a key).
        """
        matched: list[bytes | None] = []
        for start in range(0, len(keys), INDEX_BLOCK_ROWS):
            block = keys[start : start + INDEX_BLOCK_ROWS]
            counts = Counter(block)
            marks = ",".join("?" * len(counts))
            # Each key's first unmatched rows, as many as the block names it.
            query = (
                "SELECT row, key, record FROM (SELECT row, key, record, row_number() OVER "  # noqa: S608
                f"(PARTITION BY key ORDER BY row) AS n FROM rows WHERE done = 0 AND key IN "
                f"({marks})) WHERE n <= ? ORDER BY row"
            )
            found: dict[str, deque[tuple[int, bytes]]] = {}
            for row, key, record in self._db.execute(query, [*counts, max(counts.values())]):
                found.setdefault(key, deque()).append((row, bytes(record)))
            done: list[tuple[int]] = []
            for key in block:
                rows = found.get(key)
                if rows:
                    row, record = rows.popleft()
                    done.append((row,))
                    matched.append(record)
                else:
                    matched.append(None)
            self._db.executemany("UPDATE rows SET done = 1 WHERE row = ?", done)
        return matched

    def claim(self, key: str) -> tuple[bytes, bytes] | None:
        """Mark the first unmatched row with ``key`` as matched; return (record, line)."""
        found = self._db.execute(
            "SELECT row, record, line FROM rows WHERE key = ? AND done = 0 LIMIT 1", (key,)
        ).fetchone()
        if found is None:
            return None
        self._db.execute("UPDATE rows SET done = 1 WHERE row = ?", (found[0],))
        return bytes(found[1]), bytes(found[2])

    def unclaimed(self) -> Iterator[tuple[str, bytes, bytes]]:
        """(key, record, line) of rows no result mentioned."""
        cursor = self._db.execute("SELECT key, record, line FROM rows WHERE done = 0 ORDER BY row")
        for key, record, line in cursor:
            yield str(key), bytes(record), bytes(line)

    def remove(self) -> None:
        """Close and delete both files."""
        if not self._csv.closed:
            self._csv.close()
        self._unindexed.clear()
        self._db.close()
        self.csv_path.unlink(missing_ok=True)
        self.db_path.unlink(missing_ok=True)
