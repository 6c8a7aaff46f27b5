"""One Bulk job's CSV file and its row index on disk, written once then read once.

Rows are written as they arrive to the job's CSV file and indexed in a SQLite file next to it:
correlation key -> (original Singer record, CSV line). Memory therefore stays flat however many
records a job holds, and every result row can be traced back to the record that produced it
(the key is :meth:`.bulk_csv.RowFormat.correlation_key`).
"""

from __future__ import annotations

import sqlite3
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path

from target_salesforce_out.sinks.bulk_csv import quote_cell

# Rows written to the index, and result keys looked up, per SQLite statement.
INDEX_BLOCK_ROWS = 500


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
