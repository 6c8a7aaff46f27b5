"""Open query cursors: the rest of a SOQL result set, fetched page by page (query locators).

REST API Developer Guide, "Execute a SOQL Query": results larger than a batch come with a
``nextRecordsUrl``. At most ``MAX_OPEN`` cursors stay open; opening another closes the oldest
(how a real org evicts cursors is not documented by Salesforce; the emulator's choice).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import ids

MAX_OPEN = 10


@dataclass
class Cursor:
    """The full result set a locator pages through."""

    records: list[dict[str, Any]]
    total: int
    version: str
    # Rows per page when the result set decides it (aggregate results come in one page);
    # None: the request's batch size.
    page_size: int | None = None


class QueryCursors:
    """Cursors by locator, oldest first. Thread-safe."""

    def __init__(self) -> None:
        """Start with no open cursor."""
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Cursor] = OrderedDict()

    def get(self, locator: str) -> Cursor | None:
        """The cursor of a locator, or None when it is unknown or was closed."""
        with self._lock:
            return self._open.get(locator)

    def advance(self, cursor: Cursor, locator: str | None, *, end: int) -> tuple[bool, str | None]:
        """Note that a page ending at row ``end`` was read; open or close the cursor to match.

        Args:
            cursor: The result set being paged.
            locator: Its locator, or None for the first page.
            end: Row number after the page just read.

        Returns:
            (whether the result set is done, the locator of the rest or None when done).
        """
        done = end >= len(cursor.records)
        with self._lock:
            if done:
                if locator is not None:
                    self._open.pop(locator, None)
                return True, None
            if locator is None:
                locator = ids.new_id("01g")
                self._open[locator] = cursor
                while len(self._open) > MAX_OPEN:
                    self._open.popitem(last=False)
        return False, locator

    def clear(self) -> None:
        """Close every cursor."""
        with self._lock:
            self._open.clear()
