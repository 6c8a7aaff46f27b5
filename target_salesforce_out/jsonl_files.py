"""JSONL output files (dead letters, successes): one flushed line per entry, thread-safe.

A dead-letter line is flushed before the record counts as handled, so STATE never covers a
rejected record whose line is not on disk.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Any

import msgspec

# Records keep exact numbers (Decimal as a JSON number with every digit) and ISO dates; the
# Bulk sink stores records with the same settings, so both APIs dead-letter alike.
RECORD_ENCODER = msgspec.json.Encoder(enc_hook=str, decimal_format="number")


class JsonlWriter:
    """Appends entries to a JSONL file (dead letters, successes), one flushed line each."""

    def __init__(self, path: str | None) -> None:
        """Open lazily: no file appears when nothing is rejected."""
        self.path = Path(path).expanduser() if path else None
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, entry: dict[str, Any]) -> None:
        """Write one entry."""
        if self.path is None:
            return
        line = RECORD_ENCODER.encode(entry).decode()
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()
            self.lines += 1

    def close(self) -> None:
        """Close the file if it was opened."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
