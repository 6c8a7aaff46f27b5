"""Bulk API 2.0 CSV: upload rows, the on-disk row index, result parsing (salesforce-api.md 7).

Rows are written as they arrive to a job's CSV file and indexed in a SQLite file next to it:
correlation key -> (original Singer record, CSV line). Memory therefore stays flat however many
records a job holds, and every result row can be traced back to the record that produced it.

Correlation (7.7 says results are unordered and echo values "as Salesforce parsed them"):

* by the key column when the job has one (the external id for upsert, ``Id`` for update and
  delete), which is unique within a job because the sink starts a new job on a repeated key;
* otherwise (insert) by a digest of the row's text-typed cells as uploaded. Numbers, dates and
  booleans are left out because Salesforce may echo them reformatted. Identical rows share a
  digest and are matched to results in turn, which is right unless they differ only in
  non-text cells (then one may be credited with the other's outcome: best effort).
"""

from __future__ import annotations

import csv
import hashlib
import re
import sqlite3
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any

from target_salesforce_out.errors import ErrorDetail
from target_salesforce_out.soql import key_of

NULL_CELL = "#N/A"
# Rows written to the index, and result keys looked up, per SQLite statement.
INDEX_BLOCK_ROWS = 500
# Salesforce's limit on one record's characters in a Bulk upload (7.9).
MAX_RECORD_CHARS = 400_000
# Result cells may be as long as a field allows (131,072 characters); the csv default is that.
csv.field_size_limit(max(csv.field_size_limit(), 4 * 1024 * 1024))

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
_NEEDS_QUOTES_BUT_COMMA = re.compile(r'["\r\n]')
# Several errors in one sf__Error cell: "A:msg:F -- B:msg:--" (joining rule UNVERIFIED, 7.7).
_NEXT_ERROR = re.compile(r" --\s+(?=[A-Z][A-Z0-9_]*:)")
_NUMERIC_TYPES = frozenset({"int", "long", "double", "currency", "percent"})


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


def parse_sf_error(text: str) -> ErrorDetail:
    """Split an ``sf__Error`` cell into code, message and fields (7.7).

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
        key_is_id: The key holds Salesforce ids (compared in their 18-character form).
        key_is_number: The key is numeric (Salesforce may echo ``1.0E2`` for ``100``).
        text_columns: Positions of the text-typed columns (insert matching).
    """

    header: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    key_is_id: bool = False
    key_is_number: bool = False
    text_columns: tuple[int, ...] = ()

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

    def key_value(self, cells: list[str]) -> str | None:
        """The key cell as matched, or None when the row has no key value."""
        position = self.key_index
        if position is None:
            return None
        cell = cells[position]
        if cell in ("", NULL_CELL):
            return None
        if self.key_is_number:
            try:
                return format(Decimal(cell).normalize(), "f")
            except InvalidOperation:
                return cell
        return key_of(cell, is_id=self.key_is_id)

    def correlation_key(self, cells: list[str]) -> str:
        """How a row and its result row find each other (see the module docstring)."""
        value = self.key_value(cells)
        if value is not None:
            return "k:" + value
        positions = self.text_columns or tuple(range(len(cells)))
        text = "\x1f".join("" if cells[i] == NULL_CELL else cells[i] for i in positions)
        return "t:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

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


def is_numeric_type(type_name: str) -> bool:
    """Describe types whose values Salesforce may echo reformatted."""
    return type_name in _NUMERIC_TYPES


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

    def mark_many(self, keys: list[str]) -> list[bool]:
        """For each key in turn, mark the first unmatched row with it; say whether one was found.

        A success needs no more than the mark. One query per block of keys; per key, rows are
        taken in row order (insert rows with identical text share a key).
        """
        matched: list[bool] = []
        for start in range(0, len(keys), INDEX_BLOCK_ROWS):
            block = keys[start : start + INDEX_BLOCK_ROWS]
            counts = Counter(block)
            marks = ",".join("?" * len(counts))
            # Each key's first unmatched rows, as many as the block names it.
            query = (
                "SELECT row, key FROM (SELECT row, key, row_number() OVER "  # noqa: S608
                f"(PARTITION BY key ORDER BY row) AS n FROM rows WHERE done = 0 AND key IN "
                f"({marks})) WHERE n <= ? ORDER BY row"
            )
            found: dict[str, deque[int]] = {}
            for row, key in self._db.execute(query, [*counts, max(counts.values())]):
                found.setdefault(key, deque()).append(row)
            done: list[tuple[int]] = []
            for key in block:
                rows = found.get(key)
                if rows:
                    done.append((rows.popleft(),))
                    matched.append(True)
                else:
                    matched.append(False)
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
