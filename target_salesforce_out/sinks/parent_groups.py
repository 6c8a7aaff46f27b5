"""Child rows staged on disk, then cut into Bulk jobs that keep each parent's children together.

Saving a child locks its parent ("Designing Record Access for Enterprise Scale", Record-Level
Locking), and Bulk API 2.0 processes a job's 10,000-record batches in parallel, as it does
jobs (Bulk API 2.0 and Bulk API Developer Guide, How Requests Are Processed): children of one
parent in two batches or jobs contend for it, and one side fails with ``UNABLE_TO_LOCK_ROW``.
The guide's advice (General Guidelines for Data Loads) is to sort records by parent so that a
parent's children are in the same job; Salesforce's own loaders cut such jobs at 10,000
records, one batch each.

So the Bulk sink of a child object (a stream with a reference field or relationship path to a
parent) does not write rows to job files as they arrive: it stages them in a SQLite file
(memory stays flat), and when the batch is drained it writes them ordered by parent into jobs
of at most :data:`PARENT_JOB_ROWS` rows, starting a new job rather than splitting a parent's
children, unless one parent alone has more children than a job holds.

The sink's guarantees hold: rows that repeat a key go in rounds (a key's n-th row of the batch
in round n, each round after the one before), so a job never holds a key twice and the last
write for a key lands last; every staged row is either handed to a job or reported by
:meth:`ParentGroups.unsent`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from target_salesforce_out.mapping import Column
from target_salesforce_out.sinks.bulk_csv import NULL_CELL
from target_salesforce_out.sinks.job_file import INDEX_BLOCK_ROWS

# Rows per job of a child object: one Bulk API 2.0 internal batch, so a job's rows are never
# processed in two parallel batches.
PARENT_JOB_ROWS = 10_000
# Lookups that name no parent worth grouping by: owners, queues and record types.
NOT_GROUPED = frozenset({"User", "Group", "RecordType", "Profile", "UserRole"})
# One row as a job file takes it: (correlation key, record JSON, CSV line).
Row = tuple[str, bytes, bytes]

# Each row with its round: the n-th row of a key is in round n; rows without a key (inserts)
# are all in round 1. Rounds in order; in a round, parents in the order they first came, and
# each parent's rows together, in the order they came (input already grouped keeps its order).
_ORDERED = """
SELECT round, parent, key, record, line FROM (
    SELECT seq, key, record, line, parent, round,
        min(seq) OVER (PARTITION BY round, parent) AS first
    FROM (
        SELECT seq, key, record, line, parent,
            CASE WHEN substr(key, 1, 2) = 'k:'
                THEN row_number() OVER (PARTITION BY key ORDER BY seq) ELSE 1 END AS round
        FROM staged))
ORDER BY round, first, seq
"""


def parent_column(
    columns: Sequence[Column], header: Sequence[str], own_object: str
) -> tuple[int, bool] | None:
    """The column rows are grouped by: (its position in the header, whether it holds Ids).

    The first reference column (a field holding Ids, or a relationship path holding the
    parent's external id) whose parent is not a user, group or record type; a parent of
    another object before a self-reference. None when the stream has no such column.
    """
    candidates = [
        c
        for c in columns
        if c.field.type == "reference"
        and c.field.reference_to
        and not set(c.field.reference_to) <= NOT_GROUPED
        and c.name in header
    ]
    if not candidates:
        return None
    chosen = sorted(candidates, key=lambda c: own_object in c.field.reference_to)[0]
    by_id = chosen.parent_field is None or chosen.parent_field.type == "id"
    return list(header).index(chosen.name), by_id


class ParentGroups:
    """One stream's staged child rows (a SQLite file), written to jobs by parent at a drain.

    Used by the sink's thread only.
    """

    def __init__(self, directory: Path, position: int, by_id: bool) -> None:
        """Stage rows grouped by the cell at ``position`` (Ids when ``by_id``)."""
        self._position = position
        self._by_id = by_id
        self._db = sqlite3.connect(directory / "parents.db", check_same_thread=False)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE staged (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, parent TEXT,"
            " record BLOB NOT NULL, line BLOB NOT NULL);"
        )
        self._unwritten: list[tuple[str, str | None, bytes, bytes]] = []
        # Rows staged since the last drain, and how many of them the drain has handed out.
        self.rows = 0
        self._handed = 0

    def parent_of(self, cells: Sequence[str]) -> str | None:
        """The row's parent as compared, or None without one.

        An Id by its first 15 characters, an external id by its text ignoring case.
        """
        cell = cells[self._position]
        if cell in ("", NULL_CELL):
            return None
        return cell[:15] if self._by_id else cell.lower()

    def add(self, cells: Sequence[str], key: str, record_json: bytes, line: bytes) -> None:
        """Stage one row (written to the file in blocks)."""
        self._unwritten.append((key, self.parent_of(cells), record_json, line))
        self.rows += 1
        if len(self._unwritten) >= INDEX_BLOCK_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._unwritten:
            self._db.executemany(
                "INSERT INTO staged (key, parent, record, line) VALUES (?, ?, ?, ?)",
                self._unwritten,
            )
            self._unwritten.clear()

    def write_jobs(
        self,
        cap: int,
        rows_in_job: Callable[[], int],
        write: Callable[[list[Row]], None],
        submit: Callable[[], None],
    ) -> None:
        """Hand every staged row to jobs of at most ``cap`` rows, a parent's children together.

        ``rows_in_job`` counts the rows of the job being filled, ``write`` adds rows to it
        (the sink may cut it on a repeated key or its byte cap), ``submit`` hands it to the
        pool. A group that does not fit in the job being filled starts a new job; rows
        without a parent fill jobs freely.
        """
        self._flush()
        current: tuple[int, str | None] | None = None
        pending: list[Row] = []
        spilled = False  # the group is written as it comes: no parent, or too many children
        for round_no, parent, key, record, line in self._db.execute(_ORDERED):
            if (round_no, parent) != current:
                self._place(pending, cap, rows_in_job, write, submit, whole=not spilled)
                current, pending, spilled = (round_no, parent), [], parent is None
            pending.append((str(key), bytes(record), bytes(line)))
            if not spilled and len(pending) > cap:
                # One parent with more children than a job holds: jobs of its own, full.
                if rows_in_job():
                    submit()
                spilled = True
            if spilled and len(pending) >= INDEX_BLOCK_ROWS:
                self._fill(pending, cap, rows_in_job, write, submit)
                pending = []
        self._place(pending, cap, rows_in_job, write, submit, whole=not spilled)
        self._db.execute("DELETE FROM staged")
        self.rows = self._handed = 0

    def _place(
        self,
        rows: list[Row],
        cap: int,
        rows_in_job: Callable[[], int],
        write: Callable[[list[Row]], None],
        submit: Callable[[], None],
        *,
        whole: bool,
    ) -> None:
        """Write one group's rows; a ``whole`` group that does not fit starts a new job."""
        if not rows:
            return
        if whole and rows_in_job() + len(rows) > cap:
            submit()
        self._fill(rows, cap, rows_in_job, write, submit)

    def _fill(
        self,
        rows: list[Row],
        cap: int,
        rows_in_job: Callable[[], int],
        write: Callable[[list[Row]], None],
        submit: Callable[[], None],
    ) -> None:
        """Write ``rows`` in blocks, submitting each job that reaches ``cap`` rows."""
        while rows:
            room = min(cap - rows_in_job(), INDEX_BLOCK_ROWS)
            if room <= 0:
                submit()
                continue
            piece, rows = rows[:room], rows[room:]
            # Counted before the write: from here on the sink answers for these rows.
            self._handed += len(piece)
            write(piece)

    def unsent(self) -> Iterator[bytes]:
        """The record JSON of each staged row not yet handed to a job (the run is ending)."""
        if not self.rows:
            return
        self._flush()
        handed, self._handed = self._handed, 0
        cursor = self._db.execute(f"{_ORDERED} LIMIT -1 OFFSET ?", (handed,))
        for _, _, _, record, _ in cursor:
            yield bytes(record)
        self.rows = 0
        self._db.close()

    def close(self) -> None:
        """Close the file, unless rows wait in it for :meth:`unsent` (which then closes it)."""
        if not self.rows:
            self._db.close()
